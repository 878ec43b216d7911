-- pgqueue bench, ceiling scenario: the bare claim every queue needs, with nothing pgqueue
-- adds (no paused-queue check, no LATERAL per queue, no lease arithmetic beyond one
-- constant). Same batch size as the worker's claim, same partial index, SKIP LOCKED, and
-- the same plan-stable probe of the picked rows (pgqueue/_sql/__init__.py), so the
-- reference does not collapse under the statistics that the worker's claim survives.
UPDATE pgqueue.jobs AS j
SET state = 'running', attempt = j.attempt + 1, worker_id = %(worker)s,
    lease_expires_at = now() + interval '30 seconds', started_at = now()
FROM (
    SELECT id FROM pgqueue.jobs
    WHERE state = 'queued' AND queue = %(queue)s AND run_at <= now()
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED) AS picked
WHERE j.id = ANY (ARRAY[picked.id])
RETURNING j.id, j.attempt
