-- The supervisor of `pgqueue work --processes N` hands on the running jobs of a child that
-- has exited, at once rather than after their leases expire: the process is gone, so none of
-- its attempts can still be executing (no double execution), and waiting for the lease would
-- only delay them.
-- %(lost)s true: the child died (SIGKILL, OOM, a crash, a second signal): as in a rescue
-- (rescue.sql) the attempt stays counted with a WorkerLost error appended, and a job out of
-- attempts goes dead. False: the child exited after a stop request, leaving sync attempts
-- its threads could not stop; they go back with the attempt refunded and no error, like a
-- shutdown hand-back. A job an operator asked to cancel ends cancelled either way. run_at is
-- kept, as for any hand-back. The child's registry row goes too.
-- Not a hot path (once per exited child): the running rows are few; FOR UPDATE waits for a
-- completion in flight, and the re-check on state keeps a job that finished meanwhile.
WITH gone AS (
    SELECT id
    FROM pgqueue.jobs
    WHERE state = 'running' AND worker_id = %(worker)s
    FOR UPDATE
), moved AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                     WHEN %(lost)s AND j.attempt >= j.max_attempts THEN 'dead'
                     ELSE 'queued' END,
        attempt = CASE WHEN %(lost)s OR j.cancel_requested_at IS NOT NULL THEN j.attempt
                       ELSE j.attempt - 1 END,
        finished_at = CASE WHEN j.cancel_requested_at IS NOT NULL
                             OR (%(lost)s AND j.attempt >= j.max_attempts) THEN now() END,
        errors = CASE WHEN %(lost)s THEN j.errors || jsonb_build_array(jsonb_build_object(
            'at', now(),
            'attempt', j.attempt,
            'type', 'pgqueue.WorkerLost',
            'message', 'worker lost: worker process ' || %(pid)s::text || ' exited (' || %(how)s
                       || '); its supervisor handed the job on',
            'traceback', NULL,
            'worker_id', j.worker_id)) ELSE j.errors END,
        last_error = CASE WHEN j.cancel_requested_at IS NOT NULL
                          THEN 'JobCancelled: cancelled by an operator; its worker process exited'
                          WHEN %(lost)s
                          THEN 'WorkerLost: worker process ' || %(pid)s::text || ' exited (' || %(how)s || ')'
                          ELSE j.last_error END,
        worker_id = NULL,
        lease_expires_at = NULL
    FROM gone
    WHERE j.id = gone.id AND j.state = 'running'
    RETURNING j.id, j.queue, j.task, j.state, j.attempt
), woken AS (
    SELECT pg_notify(/*NOTIFY_CHANNEL*/, q.queue)
    FROM (SELECT DISTINCT queue FROM moved WHERE state = 'queued') AS q
), forgotten AS (
    DELETE FROM pgqueue.workers WHERE id = %(worker)s
)
SELECT id, queue, task, state, attempt, (SELECT count(*) FROM woken) AS woken FROM moved
