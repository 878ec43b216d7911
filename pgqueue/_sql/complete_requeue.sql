-- Batched, fenced return of attempts to 'queued': retries (error appended, run_at pushed by
-- the back-off), snoozes (attempt refunded) and shutdown hand-backs (attempt refunded,
-- run_at kept so the job keeps its place in claim order). One statement for many jobs;
-- the fence is the one of complete_success.sql.
-- Jobs that are due at once wake idle workers (one NOTIFY per queue, sent at commit);
-- the scalar subquery forces the otherwise unreferenced CTE to run.
WITH done AS (
    UPDATE pgqueue.jobs AS j
    SET state = 'queued',
        attempt = j.attempt - u.refund,
        run_at = CASE WHEN u.delay_s IS NULL THEN j.run_at
                      ELSE now() + make_interval(secs => u.delay_s) END,
        errors = CASE WHEN u.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(u.error::jsonb) END,
        last_error = coalesce(u.last_error, j.last_error),
        worker_id = NULL,
        lease_expires_at = NULL
    FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(delays)s::float8[],
                %(refunds)s::int[], %(errors)s::text[], %(last_errors)s::text[])
         AS u(id, attempt, delay_s, refund, error, last_error)
    WHERE j.id = u.id
      AND j.attempt = u.attempt
      AND j.worker_id = %(worker)s
      AND j.state = 'running'
    RETURNING j.id, j.queue, j.run_at
), woken AS (
    SELECT pg_notify('pgqueue_jobs', q.queue)
    FROM (SELECT DISTINCT queue FROM done WHERE run_at <= now()) AS q
)
SELECT id, (SELECT count(*) FROM woken) FROM done
