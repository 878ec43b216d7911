-- pgqueue bench: %(n)s jobs finished within the minute that starts at %(start)s (one
-- minute of completions at n/60 jobs/s), over 4 queues and 25 tasks; 1 in 20 dead after
-- 3 attempts (two errors recorded), the rest succeeded; run and wait times spread over
-- the history histogram's slots. Inserted as finished rows: no trigger fires for them.
INSERT INTO pgqueue.jobs (queue, task, state, attempt, max_attempts, errors,
                          run_at, created_at, started_at, finished_at)
SELECT 'bench_q' || (g %% 4), 'bench.t' || (g %% 25),
       CASE WHEN g %% 20 = 0 THEN 'dead' ELSE 'succeeded' END,
       CASE WHEN g %% 20 = 0 THEN 3 ELSE 1 END, 3,
       CASE WHEN g %% 20 = 0 THEN '[{"error": "e1"}, {"error": "e2"}]'::jsonb ELSE '[]'::jsonb END,
       x.f - x.r - x.w, x.f - x.r - x.w, x.f - x.r, x.f
FROM generate_series(1::bigint, %(n)s) AS g,
     LATERAL (SELECT %(start)s::timestamptz + (g::float8 / (%(n)s + 1)) * interval '1 minute' AS f,
                     ((g * 7919) %% 2000) * interval '1 millisecond' AS r,
                     ((g * 104729) %% 5000) * interval '1 millisecond' AS w) AS x
