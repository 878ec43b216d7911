-- pgqueue bench, retries scenario: %(n)s queued jobs, interleaved: every 200th always fails
-- (0.5 percent), every other 20th fails once (4.5 percent; 5 percent fail at least once), the rest are no-ops.
-- max_attempts 3 for all, so the always-failing ones end dead after exactly 3 attempts.
INSERT INTO pgqueue.jobs (queue, task, max_attempts)
SELECT %(queue)s,
       CASE WHEN g %% 200 = 0 THEN 'bench.fail_always'
            WHEN g %% 20 = 0 THEN 'bench.fail_once'
            ELSE 'bench.noop' END,
       3
FROM generate_series(1, %(n)s) AS g
