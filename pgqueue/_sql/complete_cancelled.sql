-- Batched, fenced end of attempts an operator cancelled while they ran (job.cancel(),
-- `pgqueue jobs cancel`): the job ends 'cancelled', never retried, with the attempt's
-- cancellation appended to errors. Same fence as complete_success.sql, so a worker that
-- lost the job meanwhile changes nothing. Dependents are handled by the
-- jobs_release_dependents trigger like for any terminal state.
UPDATE pgqueue.jobs AS j
SET state = 'cancelled',
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
