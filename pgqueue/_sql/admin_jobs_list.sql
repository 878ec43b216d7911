-- Jobs for `pgqueue jobs ls`, newest first. Each filter is optional (NULL = any); the
-- state filter lets the planner use the partial indexes (claim, lease, finished).
SELECT id, queue, task, state, attempt, max_attempts, priority,
       run_at, created_at, started_at, finished_at,
       left(last_error, 200) AS last_error
FROM pgqueue.jobs
WHERE (%(state)s::text IS NULL OR state = %(state)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
ORDER BY id DESC
LIMIT %(limit)s
