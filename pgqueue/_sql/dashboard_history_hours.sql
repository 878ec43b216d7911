-- Recompute the hour rows of job_history from its minute rows, for every hour that has
-- minutes at or after %(since)s (the hour being filled included, so an hour row is always
-- the sum of its minutes). Idempotent: each hour row is replaced, never added to.
WITH hours AS (
    SELECT DISTINCT date_bin('1 hour', bucket, 'epoch'::timestamptz) AS hour
    FROM pgqueue.job_history
    WHERE width_s = 60 AND bucket >= date_bin('1 hour', %(since)s::timestamptz, 'epoch'::timestamptz)
), slots AS (
    SELECT hs.hour, m.queue, m.task, x.i,
           sum(x.r)::integer AS r, sum(x.w)::integer AS w
    FROM hours hs
    JOIN pgqueue.job_history m
      ON m.width_s = 60 AND m.bucket >= hs.hour AND m.bucket < hs.hour + interval '1 hour'
    CROSS JOIN LATERAL unnest(m.run_hist, m.wait_hist) WITH ORDINALITY AS x(r, w, i)
    GROUP BY hs.hour, m.queue, m.task, x.i
), sums AS (
    SELECT hs.hour, m.queue, m.task,
           sum(m.succeeded)::integer AS succeeded, sum(m.dead)::integer AS dead,
           sum(m.cancelled)::integer AS cancelled, sum(m.failed_attempts)::integer AS failed_attempts,
           sum(m.run_s_sum) AS run_s_sum, sum(m.wait_s_sum) AS wait_s_sum
    FROM hours hs
    JOIN pgqueue.job_history m
      ON m.width_s = 60 AND m.bucket >= hs.hour AND m.bucket < hs.hour + interval '1 hour'
    GROUP BY hs.hour, m.queue, m.task
)
INSERT INTO pgqueue.job_history AS h
       (width_s, bucket, queue, task, succeeded, dead, cancelled, failed_attempts,
        run_s_sum, wait_s_sum, run_hist, wait_hist)
SELECT 3600, s.hour, s.queue, s.task, s.succeeded, s.dead, s.cancelled, s.failed_attempts,
       s.run_s_sum, s.wait_s_sum,
       (SELECT array_agg(r ORDER BY i) FROM slots WHERE (hour, queue, task) = (s.hour, s.queue, s.task)),
       (SELECT array_agg(w ORDER BY i) FROM slots WHERE (hour, queue, task) = (s.hour, s.queue, s.task))
FROM sums s
ON CONFLICT (width_s, bucket, queue, task) DO UPDATE
SET succeeded = EXCLUDED.succeeded, dead = EXCLUDED.dead, cancelled = EXCLUDED.cancelled,
    failed_attempts = EXCLUDED.failed_attempts, run_s_sum = EXCLUDED.run_s_sum,
    wait_s_sum = EXCLUDED.wait_s_sum, run_hist = EXCLUDED.run_hist, wait_hist = EXCLUDED.wait_hist
