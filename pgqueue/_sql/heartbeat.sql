-- The one statement a worker process runs per heartbeat interval, whatever it runs:
-- (1) upsert its pgqueue.workers row (registers on first beat, re-registers if the row was
-- pruned while the process was frozen) and (2) extend the lease of the jobs it holds.
-- Leases are extended by primary key (the ids the process holds), fenced by worker_id and
-- state, so a job rescued from under a frozen process is never extended again; RETURNING
-- says which leases were still ours, and which of those jobs an operator asked to cancel
-- (the safety net for a cancel message on pgqueue_control that the listener missed).
-- The row's meta->'counts' carries the process's running totals of what stats and the
-- dashboard cannot read from the jobs (handed back at shutdown, jobs of unknown tasks
-- handed back, jobs its rescuer gave back): `pgqueue stats` sums them over the rows.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per held id,
-- whatever the statistics say; the whole fence is one join filter.
WITH beat AS (
    INSERT INTO pgqueue.workers AS w
        (id, hostname, pid, queues, concurrency, version, expires_at, stopping, meta)
    VALUES (%(worker)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(version)s,
            now() + make_interval(secs => %(lease_s)s), %(stopping)s,
            %(meta)s::jsonb || jsonb_build_object('counts', %(counts)s::jsonb))
    ON CONFLICT (id) DO UPDATE
        SET heartbeat_at = now(),
            expires_at = excluded.expires_at,
            stopping = excluded.stopping,
            meta = w.meta || jsonb_build_object('counts', %(counts)s::jsonb)
)
UPDATE pgqueue.jobs AS j
SET lease_expires_at = now() + make_interval(secs => %(lease_s)s)
FROM unnest(%(ids)s::bigint[]) AS u(id)
WHERE j.id = ANY (ARRAY[u.id])
  AND ((j.id, j.worker_id, j.state) = (u.id, %(worker)s, 'running')) IS TRUE
RETURNING j.id, j.cancel_requested_at IS NOT NULL AS cancel_requested
