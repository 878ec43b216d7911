-- A task's dead jobs of the last %(window_s)s grouped by the type of their last error,
-- newest group first: how often, when last, and one example job. Read through
-- jobs_finished_idx (state = 'dead', finished_at range): bounded by the dead jobs of the
-- window, never by the succeeded history.
SELECT coalesce(errors -> -1 ->> 'type', 'unknown') AS error_type,
       count(*) AS n, max(finished_at) AS last_at, max(id) AS example_id,
       left((array_agg(last_error ORDER BY id DESC))[1], 300) AS example_error
FROM pgqueue.jobs
WHERE state = 'dead'
  AND finished_at IS NOT NULL
  AND finished_at >= now() - make_interval(secs => %(window_s)s)
  AND task = %(task)s
GROUP BY 1
ORDER BY max(finished_at) DESC
LIMIT 20
