-- Batched completion of succeeded attempts: one statement for many jobs (unnest of arrays).
-- Fenced: a row changes only while it is still this worker's running attempt
-- (id, attempt, worker_id, state = 'running'); a worker that lost its lease (rescued,
-- re-claimed elsewhere) matches nothing and its late write changes nothing. RETURNING tells
-- the caller which outcomes were applied; the rest were fenced out.
-- worker_id stays on finished rows so operators can see who ran the job.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per array
-- element, whatever the statistics say; the whole fence is one join filter.
UPDATE pgqueue.jobs AS j
SET state = 'succeeded',
    result = u.result::jsonb,
    finished_at = now(),
    lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(results)s::text[])
     AS u(id, attempt, result)
WHERE j.id = ANY (ARRAY[u.id])
  AND ((j.id, j.attempt, j.worker_id, j.state) = (u.id, u.attempt, %(worker)s, 'running')) IS TRUE
RETURNING j.id
