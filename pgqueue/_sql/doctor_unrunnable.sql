-- Queued jobs that no live worker can run: created more than %(age_s)s seconds ago, and no
-- live (not stopping, not expired) worker serves their queue with their task registered.
-- A worker row without meta->'tasks' (a release before 0.2) is taken to run any task of
-- its queues. Reads the queued part of the table (jobs_claim_idx's rows): a diagnosis,
-- not a hot statement.
WITH live AS (
    SELECT w.queues, w.meta -> 'tasks' AS tasks
    FROM pgqueue.workers AS w
    WHERE w.expires_at > now() AND NOT w.stopping
)
SELECT j.queue, j.task, count(*)::bigint AS jobs,
       extract(epoch FROM now() - min(j.created_at))::float8 AS oldest_age_s
FROM pgqueue.jobs AS j
WHERE j.state = 'queued'
  AND j.created_at < now() - make_interval(secs => %(age_s)s::float8)
  AND NOT EXISTS (
      SELECT 1 FROM live
      WHERE j.queue = ANY (live.queues)
        AND (live.tasks IS NULL OR live.tasks ? j.task)
  )
GROUP BY j.queue, j.task
ORDER BY jobs DESC, j.queue, j.task
LIMIT 50
