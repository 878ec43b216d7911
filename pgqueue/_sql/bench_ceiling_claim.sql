-- pgqueue bench, ceiling scenario: the bare claim every queue needs, with nothing pgqueue
-- adds (no paused-queue check, no LATERAL per queue, no lease arithmetic beyond one
-- constant). Same batch size as the worker's claim, same partial index, SKIP LOCKED.
UPDATE pgqueue.jobs AS j
SET state = 'running', attempt = j.attempt + 1, worker_id = %(worker)s,
    lease_expires_at = now() + interval '30 seconds', started_at = now()
WHERE j.id IN (
    SELECT id FROM pgqueue.jobs
    WHERE state = 'queued' AND queue = %(queue)s AND run_at <= now()
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING j.id, j.attempt
