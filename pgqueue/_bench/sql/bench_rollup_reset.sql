-- pgqueue bench: forget the scratch database's history (rows and watermark), then set
-- the watermark to %(start)s so the next history tick rolls up from there.
WITH gone AS (DELETE FROM pgqueue.job_history RETURNING 1)
INSERT INTO pgqueue.history_watermark (id, rolled_until)
SELECT true, %(start)s::timestamptz FROM (SELECT count(*) FROM gone) AS g
ON CONFLICT (id) DO UPDATE SET rolled_until = EXCLUDED.rolled_until
