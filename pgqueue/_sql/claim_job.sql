-- Claim one given job if it is queued (pgqueue.testing runs a chosen job inline).
-- run_at is not checked: a test may run a scheduled job early on purpose.
-- Same fence and columns as claim.sql.
UPDATE pgqueue.jobs AS j
SET state = 'running',
    attempt = j.attempt + 1,
    worker_id = %(worker)s,
    lease_expires_at = now() + make_interval(secs => %(lease_s)s),
    started_at = now()
WHERE j.id = %(id)s AND j.state = 'queued'
RETURNING j.id, j.queue, j.task, j.args, j.kwargs, j.priority, j.state, j.attempt,
          j.max_attempts, j.run_at, j.created_at, j.started_at, j.finished_at, j.result,
          j.last_error, j.errors, j.unique_key, j.tags
