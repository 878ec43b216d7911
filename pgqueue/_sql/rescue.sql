-- The rescuer: running jobs whose lease expired belong to a worker that stopped
-- heartbeating (SIGKILL, OOM, frozen, cut off from the database). Leases are extended by the
-- live worker's heartbeat, so a long-running job is never rescued merely for running long.
--
-- One elected process at a time: pg_try_advisory_xact_lock in an InitPlan; the other
-- processes' statements match nothing and return at once. Election is only an economy: the
-- UPDATE itself re-checks state and lease on the locked row (FOR UPDATE re-evaluates the
-- WHERE against a row a completer changed meanwhile), so a job that finished in between is
-- never touched. The attempt stays counted (the lost run did start) and a "worker lost"
-- entry is appended to errors; a job out of attempts goes dead instead of queued, and a
-- job an operator asked to cancel (cancel_requested_at) ends cancelled: its worker died
-- before it could stop it, and running it again would defy the cancel.
-- Rescued jobs that go back to 'queued' wake idle workers (one NOTIFY per queue). run_at is
-- kept (as for a shutdown hand-back): the job was due and had its turn, so it goes back to
-- the head of its priority rather than behind the whole backlog, and runs again within
-- lease + rescue interval even on a busy queue.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per expired job,
-- whatever the statistics say.
-- Long-dead workers' rows are deleted right after, by worker_forget.sql.
WITH leader AS (
    SELECT pg_try_advisory_xact_lock(%(lock_key)s) AS ok
), expired AS (
    SELECT id
    FROM pgqueue.jobs
    WHERE state = 'running'
      AND lease_expires_at < now()
      AND (SELECT ok FROM leader)
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                     WHEN j.attempt >= j.max_attempts THEN 'dead'
                     ELSE 'queued' END,
        finished_at = CASE WHEN j.cancel_requested_at IS NOT NULL
                             OR j.attempt >= j.max_attempts THEN now() END,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'at', now(),
            'attempt', j.attempt,
            'type', 'pgqueue.WorkerLost',
            'message', 'worker lost: lease expired at ' || j.lease_expires_at::text
                       || ' without a heartbeat from worker ' || j.worker_id::text,
            'traceback', NULL,
            'worker_id', j.worker_id)),
        last_error = CASE WHEN j.cancel_requested_at IS NOT NULL
                          THEN 'JobCancelled: cancelled by an operator; its worker '
                               || j.worker_id::text || ' stopped heartbeating'
                          ELSE 'WorkerLost: worker ' || j.worker_id::text
                               || ' stopped heartbeating' END,
        worker_id = NULL,
        lease_expires_at = NULL
    FROM expired
    WHERE j.id = ANY (ARRAY[expired.id])
      AND (j.id = expired.id AND j.state = 'running' AND j.lease_expires_at < now()) IS TRUE
    RETURNING j.id, j.queue, j.task, j.state, j.attempt
), woken AS (
    SELECT pg_notify(/*NOTIFY_CHANNEL*/, q.queue)
    FROM (SELECT DISTINCT queue FROM rescued WHERE state = 'queued') AS q
)
SELECT id, queue, task, state, attempt, (SELECT count(*) FROM woken) AS woken FROM rescued
