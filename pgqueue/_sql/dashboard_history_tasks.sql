-- Per task over the last %(window_s)s (hour rows, plus the minute rows of the hour being
-- filled are already in its hour row): finished counts, failed attempts, run/wait sums,
-- and the run/wait histograms summed slot by slot (as arrays in slot order).
WITH rows AS (
    SELECT task, succeeded, dead, cancelled, failed_attempts, run_s_sum, wait_s_sum,
           run_hist, wait_hist
    FROM pgqueue.job_history
    WHERE width_s = 3600
      AND bucket >= date_bin('1 hour', now() - make_interval(secs => %(window_s)s), 'epoch'::timestamptz)
), slots AS (
    SELECT task, x.i, sum(x.r)::bigint AS r, sum(x.w)::bigint AS w
    FROM rows CROSS JOIN LATERAL unnest(run_hist, wait_hist) WITH ORDINALITY AS x(r, w, i)
    GROUP BY task, x.i
)
SELECT r.task,
       sum(r.succeeded)::bigint AS succeeded, sum(r.dead)::bigint AS dead,
       sum(r.cancelled)::bigint AS cancelled, sum(r.failed_attempts)::bigint AS failed_attempts,
       sum(r.run_s_sum) AS run_s_sum, sum(r.wait_s_sum) AS wait_s_sum,
       (SELECT array_agg(s.r ORDER BY s.i) FROM slots s WHERE s.task = r.task) AS run_hist,
       (SELECT array_agg(s.w ORDER BY s.i) FROM slots s WHERE s.task = r.task) AS wait_hist
FROM rows r
GROUP BY r.task
ORDER BY sum(r.succeeded + r.dead + r.cancelled) DESC, r.task
LIMIT %(limit)s
