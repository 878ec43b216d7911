-- Batched, fenced dead-lettering: attempts exhausted, Discard, discard_on, or an error
-- that retry_on does not cover. The attempt's error is appended to errors and kept in
-- last_error. Same fence as complete_success.sql.
UPDATE pgqueue.jobs AS j
SET state = 'dead',
    finished_at = now(),
    lease_expires_at = NULL,
    errors = j.errors || jsonb_build_array(u.error::jsonb),
    last_error = u.last_error
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(errors)s::text[], %(last_errors)s::text[])
     AS u(id, attempt, error, last_error)
WHERE j.id = u.id
  AND j.attempt = u.attempt
  AND j.worker_id = %(worker)s
  AND j.state = 'running'
RETURNING j.id
