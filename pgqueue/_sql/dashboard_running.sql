-- Running jobs with their worker (pgqueue.running_jobs), longest-running first.
SELECT id, queue, task, attempt, max_attempts, worker_id::text AS worker_id, hostname, pid,
       started_at, extract(epoch FROM runtime)::double precision AS runtime_s,
       lease_expires_at, lease_expired, cancel_requested_at
FROM pgqueue.running_jobs
ORDER BY started_at
LIMIT %(limit)s
