-- Move the rollup watermark (the single row of pgqueue.history_watermark).
INSERT INTO pgqueue.history_watermark (id, rolled_until) VALUES (true, %(until)s)
ON CONFLICT (id) DO UPDATE SET rolled_until = EXCLUDED.rolled_until
