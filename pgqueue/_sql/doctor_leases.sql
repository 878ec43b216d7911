-- Running jobs whose lease expired more than `grace_s` seconds ago: no live worker's
-- rescuer has handed them back, so no worker (or no rescuer) is running.
SELECT count(*) AS jobs, min(lease_expires_at) AS oldest_expiry,
       extract(epoch FROM now() - min(lease_expires_at))::double precision AS worst_s
FROM pgqueue.jobs
WHERE state = 'running'
  AND lease_expires_at < now() - make_interval(secs => %(grace_s)s)
