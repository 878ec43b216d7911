-- The one statement a worker process runs per heartbeat interval, whatever it runs:
-- (1) upsert its pgqueue.workers row (registers on first beat, re-registers if the row was
-- pruned while the process was frozen) and (2) extend the lease of the jobs it holds.
-- Leases are extended by primary key (the ids the process holds), fenced by worker_id and
-- state, so a job rescued from under a frozen process is never extended again; RETURNING
-- says which leases were still ours, and which of those jobs an operator asked to cancel
-- (the safety net for a cancel message on pgqueue_control that the listener missed).
-- `(state = 'running') IS TRUE` is `state = 'running'` (state is NOT NULL) in a form that does
-- not imply jobs_lease_idx's predicate: the rows are found by primary key, never by a
-- walk of that index, which fills with dead entries while a long transaction pins the
-- xmin horizon (tens of ms per statement, and deadlocks between heartbeat and completion).
WITH beat AS (
    INSERT INTO pgqueue.workers AS w
        (id, hostname, pid, queues, concurrency, version, expires_at, stopping, meta)
    VALUES (%(worker)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(version)s,
            now() + make_interval(secs => %(lease_s)s), %(stopping)s, %(meta)s)
    ON CONFLICT (id) DO UPDATE
        SET heartbeat_at = now(),
            expires_at = excluded.expires_at,
            stopping = excluded.stopping
)
UPDATE pgqueue.jobs
SET lease_expires_at = now() + make_interval(secs => %(lease_s)s)
WHERE id = ANY (%(ids)s::bigint[])
  AND worker_id = %(worker)s
  AND (state = 'running') IS TRUE
RETURNING id, cancel_requested_at IS NOT NULL
