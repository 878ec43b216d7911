-- The dashboard's job browser: optional exact filters (NULL = any) plus a search, newest
-- first. Keyset paging (id < %(before)s) walks the primary key backwards, so a page costs
-- the rows it reads, never an OFFSET. scheduled: queued with run_at in the future.
-- With a search, this is its first pass: every way to match, over the window of newest
-- ids (id >= %(floor)s), so the backwards walk is bounded however rare the match is.
-- dashboard_jobs_search_indexed.sql then looks below the window by index only.
-- A NULL parameter folds its test away at planning (parameters are bound per call, no
-- generic plan). strpos() instead of LIKE: no escaping needed.
SELECT id, queue, task, state, (state = 'queued' AND run_at > now()) AS scheduled,
       attempt, max_attempts, priority, tags,
       run_at, created_at, started_at, finished_at,
       left(last_error, 200) AS last_error, progress
FROM pgqueue.jobs
WHERE (%(state)s::text IS NULL OR state = %(state)s::text)
  AND (%(scheduled)s::boolean IS NULL OR (run_at > now()) = %(scheduled)s::boolean)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(before)s::bigint IS NULL OR id < %(before)s::bigint)
  AND (%(floor)s::bigint IS NULL OR id >= %(floor)s::bigint)
  AND ((%(q)s::text IS NULL AND %(contains)s::jsonb IS NULL)
       OR id = %(q_id)s::bigint
       OR (args || kwargs) @> %(contains)s::jsonb
       OR (args || kwargs) @? %(value_path)s::jsonpath
       OR tags @> ARRAY[%(q)s::text]
       OR strpos(lower(task), lower(%(q)s::text)) > 0
       OR strpos(lower(last_error), lower(%(q)s::text)) > 0
       OR strpos(lower(args::text), lower(%(q)s::text)) > 0
       OR strpos(lower(kwargs::text), lower(%(q)s::text)) > 0)
ORDER BY id DESC
LIMIT %(limit)s
