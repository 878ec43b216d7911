-- Roll finished jobs of [%(start)s, %(end)s) up into one job_history row per minute,
-- queue and task. Read through jobs_finished_idx (state, finished_at): the cost follows the
-- jobs finished in the range, never the retained history. Two levels: the jobs are first
-- grouped by minute, queue, task, state and the two histogram slots of %(bounds)s
-- (width_bucket gives 0..18 for 18 bounds; pgqueue.dashboard.history.BOUNDS_S checks the
-- length), one hash aggregation with a handful of expressions per job; the histograms are
-- then counted per slot over those few groups, not per job (38 FILTERed counts per job
-- cost 2-3x more at 30k jobs/s: pgqueue bench -s history-rollup).
-- Run time is the last attempt's (finished_at - started_at); wait time is from when that
-- attempt was due to its start (started_at - run_at); failed attempts are the job's
-- recorded errors, counted in the minute it finished. A re-run of a range (after a crash
-- between this and the watermark update) adds to the rows: the caller holds the history
-- lock and moves the watermark in the same transaction, so that cannot happen.
WITH f AS (
    SELECT date_bin('1 minute', finished_at, 'epoch'::timestamptz) AS bucket, queue, task, state,
           width_bucket(extract(epoch FROM finished_at - started_at)::double precision,
                        %(bounds)s::double precision[]) AS rb,
           width_bucket(greatest(extract(epoch FROM started_at - run_at)::double precision, 0),
                        %(bounds)s::double precision[]) AS wb,
           count(*) AS n,
           sum(jsonb_array_length(errors)) AS fails,
           sum(extract(epoch FROM finished_at - started_at)::double precision) AS run_s,
           sum(greatest(extract(epoch FROM started_at - run_at)::double precision, 0)) AS wait_s
    FROM pgqueue.jobs
    WHERE state IN ('succeeded', 'dead', 'cancelled')
      AND finished_at IS NOT NULL
      AND finished_at >= %(start)s
      AND finished_at < %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6
)
INSERT INTO pgqueue.job_history AS h
       (width_s, bucket, queue, task, succeeded, dead, cancelled, failed_attempts,
        run_s_sum, wait_s_sum, run_hist, wait_hist)
SELECT 60, bucket, queue, task,
       coalesce(sum(n) FILTER (WHERE state = 'succeeded'), 0),
       coalesce(sum(n) FILTER (WHERE state = 'dead'), 0),
       coalesce(sum(n) FILTER (WHERE state = 'cancelled'), 0),
       coalesce(sum(fails), 0),
       coalesce(sum(run_s), 0),
       coalesce(sum(wait_s), 0),
       ARRAY[coalesce(sum(n) FILTER (WHERE rb = 0), 0),
             coalesce(sum(n) FILTER (WHERE rb = 1), 0),
             coalesce(sum(n) FILTER (WHERE rb = 2), 0),
             coalesce(sum(n) FILTER (WHERE rb = 3), 0),
             coalesce(sum(n) FILTER (WHERE rb = 4), 0),
             coalesce(sum(n) FILTER (WHERE rb = 5), 0),
             coalesce(sum(n) FILTER (WHERE rb = 6), 0),
             coalesce(sum(n) FILTER (WHERE rb = 7), 0),
             coalesce(sum(n) FILTER (WHERE rb = 8), 0),
             coalesce(sum(n) FILTER (WHERE rb = 9), 0),
             coalesce(sum(n) FILTER (WHERE rb = 10), 0),
             coalesce(sum(n) FILTER (WHERE rb = 11), 0),
             coalesce(sum(n) FILTER (WHERE rb = 12), 0),
             coalesce(sum(n) FILTER (WHERE rb = 13), 0),
             coalesce(sum(n) FILTER (WHERE rb = 14), 0),
             coalesce(sum(n) FILTER (WHERE rb = 15), 0),
             coalesce(sum(n) FILTER (WHERE rb = 16), 0),
             coalesce(sum(n) FILTER (WHERE rb = 17), 0),
             coalesce(sum(n) FILTER (WHERE rb = 18), 0)]::integer[],
       ARRAY[coalesce(sum(n) FILTER (WHERE wb = 0), 0),
             coalesce(sum(n) FILTER (WHERE wb = 1), 0),
             coalesce(sum(n) FILTER (WHERE wb = 2), 0),
             coalesce(sum(n) FILTER (WHERE wb = 3), 0),
             coalesce(sum(n) FILTER (WHERE wb = 4), 0),
             coalesce(sum(n) FILTER (WHERE wb = 5), 0),
             coalesce(sum(n) FILTER (WHERE wb = 6), 0),
             coalesce(sum(n) FILTER (WHERE wb = 7), 0),
             coalesce(sum(n) FILTER (WHERE wb = 8), 0),
             coalesce(sum(n) FILTER (WHERE wb = 9), 0),
             coalesce(sum(n) FILTER (WHERE wb = 10), 0),
             coalesce(sum(n) FILTER (WHERE wb = 11), 0),
             coalesce(sum(n) FILTER (WHERE wb = 12), 0),
             coalesce(sum(n) FILTER (WHERE wb = 13), 0),
             coalesce(sum(n) FILTER (WHERE wb = 14), 0),
             coalesce(sum(n) FILTER (WHERE wb = 15), 0),
             coalesce(sum(n) FILTER (WHERE wb = 16), 0),
             coalesce(sum(n) FILTER (WHERE wb = 17), 0),
             coalesce(sum(n) FILTER (WHERE wb = 18), 0)]::integer[]
FROM f
GROUP BY bucket, queue, task
ON CONFLICT (width_s, bucket, queue, task) DO UPDATE
SET succeeded = h.succeeded + EXCLUDED.succeeded,
    dead = h.dead + EXCLUDED.dead,
    cancelled = h.cancelled + EXCLUDED.cancelled,
    failed_attempts = h.failed_attempts + EXCLUDED.failed_attempts,
    run_s_sum = h.run_s_sum + EXCLUDED.run_s_sum,
    wait_s_sum = h.wait_s_sum + EXCLUDED.wait_s_sum,
    run_hist = (SELECT array_agg(a + b ORDER BY i)
                FROM unnest(h.run_hist, EXCLUDED.run_hist) WITH ORDINALITY AS x(a, b, i)),
    wait_hist = (SELECT array_agg(a + b ORDER BY i)
                 FROM unnest(h.wait_hist, EXCLUDED.wait_hist) WITH ORDINALITY AS x(a, b, i))
