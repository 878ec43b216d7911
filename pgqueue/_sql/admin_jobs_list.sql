-- Jobs for `pgqueue jobs ls`, newest first. Each filter is optional (NULL = any); the
-- state filter lets the planner use the partial indexes (claim, lease, finished).
-- `scheduled` is not a stored state: it is state 'queued' with run_at in the future
-- (true), and false keeps only due ones. `older_than` compares the finish time, or the
-- creation time of jobs not finished.
SELECT id, queue, task, state, attempt, max_attempts, priority,
       run_at, created_at, started_at, finished_at, tags,
       left(last_error, 200) AS last_error
FROM pgqueue.jobs
WHERE (%(state)s::text IS NULL OR state = %(state)s::text)
  AND (%(scheduled)s::boolean IS NULL OR (run_at > now()) = %(scheduled)s::boolean)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(tag)s::text IS NULL OR tags @> ARRAY[%(tag)s::text])
  AND (%(before)s::timestamptz IS NULL OR coalesce(finished_at, created_at) < %(before)s::timestamptz)
ORDER BY id DESC
LIMIT %(limit)s
