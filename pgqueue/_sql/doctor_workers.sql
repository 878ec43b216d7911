-- Registered worker processes by liveness (pgqueue.workers_status).
SELECT count(*) FILTER (WHERE status = 'alive')    AS alive,
       count(*) FILTER (WHERE status = 'stopping') AS stopping,
       count(*) FILTER (WHERE status = 'stale')    AS stale,
       array_agg(hostname || ':' || pid) FILTER (WHERE status = 'stale') AS stale_names
FROM pgqueue.workers_status
