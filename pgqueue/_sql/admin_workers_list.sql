-- pgqueue.workers_status with ages as seconds; alive first, then by host and pid. pool and
-- tasks come from the row's meta (written by heartbeat.sql; NULL for a release before 0.2).
SELECT s.id::text AS id, s.hostname, s.pid, s.queues, s.concurrency, s.version, s.status,
       s.running, s.started_at, s.heartbeat_at,
       extract(epoch FROM s.heartbeat_age)::double precision AS heartbeat_age_s,
       s.expires_at,
       w.meta ->> 'pool' AS pool,
       (SELECT array_agg(t ORDER BY t) FROM jsonb_array_elements_text(w.meta -> 'tasks') AS t)
           AS tasks
FROM pgqueue.workers_status AS s
JOIN pgqueue.workers AS w ON w.id = s.id
ORDER BY s.status = 'alive' DESC, s.hostname, s.pid
