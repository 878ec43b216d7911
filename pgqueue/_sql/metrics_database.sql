-- The database-wide gauges of /metrics, in one round trip next to metrics_queues:
-- worker processes by status (pgqueue.workers_status: alive, stopping, stale) and the age
-- of the oldest transaction or snapshot pinning this database's xmin horizon (what
-- `pgqueue doctor` checks: while it is old, vacuum cannot clean pgqueue.jobs).
SELECT (SELECT count(*) FROM pgqueue.workers_status WHERE status = 'alive')    AS alive,
       (SELECT count(*) FROM pgqueue.workers_status WHERE status = 'stopping') AS stopping,
       (SELECT count(*) FROM pgqueue.workers_status WHERE status = 'stale')    AS stale,
       coalesce((SELECT max(extract(epoch FROM now() - xact_start))
                 FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid()
                   AND datname = current_database()
                   AND xact_start IS NOT NULL
                   AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)), 0)::double precision
           AS xmin_age_s
