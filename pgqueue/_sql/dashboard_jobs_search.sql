-- The dashboard's job browser: optional exact filters (NULL = any) plus a free-text
-- search that matches an id, a tag, or a substring of the task name. Keyset paging
-- (id < %(before)s) walks the primary key backwards, so a page costs the rows it
-- scans, never an OFFSET. strpos() instead of LIKE: the search text needs no escaping.
SELECT id, queue, task, state, attempt, max_attempts, priority, tags,
       run_at, created_at, started_at, finished_at,
       left(last_error, 200) AS last_error
FROM pgqueue.jobs
WHERE (%(state)s::text IS NULL OR state = %(state)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(before)s::bigint IS NULL OR id < %(before)s::bigint)
  AND (%(q)s::text IS NULL
       OR id = %(q_id)s::bigint
       OR tags @> ARRAY[%(q)s::text]
       OR strpos(lower(task), lower(%(q)s::text)) > 0)
ORDER BY id DESC
LIMIT %(limit)s
