-- Claim one given job if it is queued (pgqueue.testing runs a chosen job inline).
-- run_at is not checked: a test may run a scheduled job early on purpose. expires_at
-- is, as in claim.sql: an expired job is ended cancelled (pgqueue.JobExpired) and not
-- returned. Same fence and columns as claim.sql.
WITH claimed AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE WHEN (j.expires_at <= now()) IS TRUE THEN 'cancelled' ELSE 'running' END,
        attempt = CASE WHEN (j.expires_at <= now()) IS TRUE THEN j.attempt ELSE j.attempt + 1 END,
        worker_id = CASE WHEN (j.expires_at <= now()) IS TRUE THEN NULL ELSE %(worker)s::uuid END,
        lease_expires_at = CASE WHEN (j.expires_at <= now()) IS TRUE THEN NULL
                                ELSE now() + make_interval(secs => %(lease_s)s) END,
        started_at = CASE WHEN (j.expires_at <= now()) IS TRUE THEN NULL ELSE now() END,
        finished_at = CASE WHEN (j.expires_at <= now()) IS TRUE THEN now() ELSE j.finished_at END,
        last_error = CASE WHEN (j.expires_at <= now()) IS TRUE
                          THEN 'JobExpired: expired at ' || j.expires_at::text
                               || ' before a worker started it'
                          ELSE j.last_error END,
        errors = CASE WHEN (j.expires_at <= now()) IS TRUE
                      THEN j.errors || jsonb_build_array(jsonb_build_object(
                               'at', now(), 'attempt', j.attempt, 'type', 'pgqueue.JobExpired',
                               'message', 'expired at ' || j.expires_at::text
                                          || ' before a worker started it',
                               'traceback', NULL))
                      ELSE j.errors END
    WHERE j.id = %(id)s AND j.state = 'queued'
    RETURNING j.id, j.queue, j.task, j.args, j.kwargs, j.priority, j.state, j.attempt,
              j.max_attempts, j.run_at, j.created_at, j.started_at, j.finished_at, j.result,
              j.last_error, j.errors, j.unique_key, j.tags
)
SELECT * FROM claimed WHERE state = 'running'
