-- Queue depth for /metrics: one row per queue with its live jobs by state, the age of
-- its oldest due job, its dead letters and its pause flag.
--
-- Run by the one process that serves /metrics, at most once per cache period, never by
-- idle workers. Live rows are few and indexed (jobs_claim_idx covers queued rows); dead
-- rows are counted through jobs_finished_idx (state, finished_at), never by scanning the
-- succeeded history. Queues known only from pgqueue.queues (configured, empty), from a
-- registered worker that serves them, or from the last day of history (pgqueue.job_history,
-- migration 0008) get zeros, so a drained queue reads 0 instead of vanishing.
WITH live AS (
    SELECT queue,
           count(*) FILTER (WHERE state = 'queued' AND run_at <= now()) AS queued,
           count(*) FILTER (WHERE state = 'queued' AND run_at > now())  AS scheduled,
           count(*) FILTER (WHERE state = 'running')                    AS running,
           count(*) FILTER (WHERE state = 'waiting')                    AS waiting,
           min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()) AS oldest_run_at
    FROM pgqueue.jobs
    WHERE state IN ('queued', 'running', 'waiting')
    GROUP BY queue
), dead AS (
    SELECT queue, count(*) AS dead
    FROM pgqueue.jobs
    WHERE state = 'dead' AND finished_at IS NOT NULL
    GROUP BY queue
), names AS (
    SELECT queue FROM live UNION SELECT queue FROM dead UNION SELECT name FROM pgqueue.queues
    UNION SELECT unnest(queues) FROM pgqueue.workers
    UNION SELECT queue FROM pgqueue.job_history
          WHERE width_s = 3600 AND bucket >= now() - interval '24 hours'
)
SELECT n.queue,
       coalesce(l.queued, 0)    AS queued,
       coalesce(l.scheduled, 0) AS scheduled,
       coalesce(l.running, 0)   AS running,
       coalesce(l.waiting, 0)   AS waiting,
       coalesce(d.dead, 0)      AS dead,
       coalesce(extract(epoch FROM now() - l.oldest_run_at), 0)::double precision AS oldest_age_s,
       coalesce(q.paused, false) AS paused
FROM names n
LEFT JOIN live l ON l.queue = n.queue
LEFT JOIN dead d ON d.queue = n.queue
LEFT JOIN pgqueue.queues q ON q.name = n.queue
ORDER BY n.queue
