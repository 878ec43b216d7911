-- Hand back jobs this worker claimed but cannot run (their task is not registered in its
-- app): the attempt is refunded (the claim counted it), worker and lease are cleared, and
-- run_at is pushed so this worker does not claim them again at once. The delay grows with
-- the job's age (age x %(growth)s, between %(min_s)s and %(max_s)s): a job that has waited
-- long for a worker that knows its task is looked at less often, never less than every
-- %(max_s)s seconds, so it runs soon after such a worker starts. %(offset_s)s (half this
-- worker's poll interval, at most 2.5 s) puts the moment between two of this worker's polls
-- (a claim at a poll plus a delay of whole poll intervals would land on one), so a worker
-- that knows the task, with a timer for that moment, claims it first.
-- The fence of complete_mixed.sql: a row changes only while it is still this worker's
-- running attempt. Not a hot statement: it runs only for jobs of unknown tasks.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per id.
UPDATE pgqueue.jobs AS j
SET state = 'queued',
    attempt = j.attempt - 1,
    worker_id = NULL,
    lease_expires_at = NULL,
    run_at = now() + make_interval(secs => %(offset_s)s::float8 + least(
        %(max_s)s::float8,
        greatest(%(min_s)s::float8,
                 extract(epoch FROM now() - j.created_at)::float8 * %(growth)s::float8)))
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS u(id, attempt)
WHERE j.id = ANY (ARRAY[u.id])
  AND ((j.id, j.attempt, j.worker_id, j.state) = (u.id, u.attempt, %(worker)s, 'running')) IS TRUE
RETURNING j.id, extract(epoch FROM j.run_at - now())::float8 AS delay_s
