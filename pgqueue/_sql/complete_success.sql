-- Batched completion of succeeded attempts: one statement for many jobs (unnest of arrays).
-- Fenced: a row changes only while it is still this worker's running attempt
-- (id, attempt, worker_id, state = 'running'); a worker that lost its lease (rescued,
-- re-claimed elsewhere) matches nothing and its late write changes nothing. RETURNING tells
-- the caller which outcomes were applied; the rest were fenced out.
-- worker_id stays on finished rows so operators can see who ran the job.
-- `(state = 'running') IS TRUE` is `state = 'running'` (state is NOT NULL) in a form that does
-- not imply jobs_lease_idx's predicate: the rows are found by primary key, never by a
-- walk of that index, which fills with dead entries while a long transaction pins the
-- xmin horizon (tens of ms per statement, and deadlocks between heartbeat and completion).
UPDATE pgqueue.jobs AS j
SET state = 'succeeded',
    result = u.result::jsonb,
    finished_at = now(),
    lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(results)s::text[])
     AS u(id, attempt, result)
WHERE j.id = u.id
  AND j.attempt = u.attempt
  AND j.worker_id = %(worker)s
  AND (j.state = 'running') IS TRUE
RETURNING j.id
