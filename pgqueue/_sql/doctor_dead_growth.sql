-- Jobs that went dead in the last hour against the hourly average of the 24 hours
-- before it, read through jobs_finished_idx (state, finished_at).
SELECT count(*) FILTER (WHERE finished_at >= now() - interval '1 hour') AS last_hour,
       count(*) FILTER (WHERE finished_at < now() - interval '1 hour') / 24.0 AS hourly_before
FROM pgqueue.jobs
WHERE state = 'dead' AND finished_at IS NOT NULL
  AND finished_at >= now() - interval '25 hours'
