-- A progress report from a running attempt, fenced like a completion: only the worker
-- holding this attempt of the running job may write it.
UPDATE pgqueue.jobs
SET progress = %(progress)s
WHERE id = %(id)s AND attempt = %(attempt)s AND worker_id = %(worker)s
  AND (state = 'running') IS TRUE  -- by primary key, never via jobs_lease_idx (complete_success.sql)
