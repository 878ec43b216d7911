-- pgqueue.workers_status with ages as seconds; alive first, then by host and pid.
SELECT id::text AS id, hostname, pid, queues, concurrency, version, status, running,
       started_at, heartbeat_at,
       extract(epoch FROM heartbeat_age)::double precision AS heartbeat_age_s,
       expires_at
FROM pgqueue.workers_status
ORDER BY status = 'alive' DESC, hostname, pid
