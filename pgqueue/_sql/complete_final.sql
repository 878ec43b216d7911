-- Batched, fenced end of attempts that finish without success: 'dead' (attempts exhausted,
-- Discard, discard_on, an error retry_on does not cover) or 'cancelled' (an operator
-- cancelled the running job: never retried). One statement for both, a state per row.
-- The attempt's error is appended to errors and kept in last_error. Same fence as
-- complete_success.sql, so a worker that lost the job meanwhile changes nothing.
-- Dependents are handled by the jobs_release_dependents trigger like for any terminal state.
UPDATE pgqueue.jobs AS j
SET state = u.state,
    finished_at = now(),
    lease_expires_at = NULL,
    errors = j.errors || jsonb_build_array(u.error::jsonb),
    last_error = u.last_error
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(states)s::text[], %(errors)s::text[],
            %(last_errors)s::text[])
     AS u(id, attempt, state, error, last_error)
WHERE j.id = u.id
  AND j.attempt = u.attempt
  AND j.worker_id = %(worker)s
  AND j.state = 'running'
RETURNING j.id
