-- Jobs finished per queue and state over the last `minutes` minutes, read through
-- jobs_finished_idx (state, finished_at): cost grows with the jobs finished in the
-- window, never with the retained history.
SELECT queue, state, count(*) AS n
FROM pgqueue.jobs
WHERE state IN ('succeeded', 'dead', 'cancelled')
  AND finished_at IS NOT NULL
  AND finished_at >= now() - make_interval(mins => %(minutes)s)
GROUP BY queue, state
