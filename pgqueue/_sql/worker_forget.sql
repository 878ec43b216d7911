-- The rescuer's second statement: delete the rows of workers expired for longer than
-- %(forget_s)s seconds (pgqueue.workers stays bounded however many workers come and go),
-- but never the row of a worker that still owns a running job, whatever that job's lease
-- says: the row is what names the job's owner in `pgqueue workers ls`, the dashboard and
-- doctor. Run after rescue.sql has committed, so a worker whose last jobs that pass gave
-- back goes in the same pass. A worker that comes back (it was frozen) re-registers at its
-- next heartbeat (heartbeat.sql upserts its row).
--
-- Not a hot statement (one pass per rescue interval, the elected process only), but
-- bounded all the same: at most %(limit)s candidates, the oldest first, and for each a
-- correlated probe of the running jobs (jobs_lease_idx; running jobs are bounded by the
-- slots of all workers) that stops at the first one it owns. With no candidate (the usual
-- case) it reads only the small workers table.
WITH leader AS (
    SELECT pg_try_advisory_xact_lock(%(lock_key)s) AS ok
), candidates AS (
    SELECT id
    FROM pgqueue.workers
    WHERE expires_at < now() - make_interval(secs => %(forget_s)s)
      AND (SELECT ok FROM leader)
    ORDER BY expires_at
    LIMIT %(limit)s
)
DELETE FROM pgqueue.workers AS w
USING candidates AS c
WHERE w.id = c.id
  AND w.expires_at < now() - make_interval(secs => %(forget_s)s)
  AND (SELECT j.id FROM pgqueue.jobs AS j
       WHERE j.state = 'running' AND j.worker_id = w.id
       LIMIT 1) IS NULL
RETURNING w.id
