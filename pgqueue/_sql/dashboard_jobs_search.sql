-- The dashboard's job browser: optional exact filters (NULL = any) plus a free-text search
-- that matches an id, a tag, part of the task name, part of the last error (its type and
-- message), or part of the arguments' JSON text; and a JSON containment search
-- (args @> %(contains)s OR kwargs @> %(contains)s) for a JSON value typed in the box.
-- Keyset paging (id < %(before)s) walks the primary key backwards, so a page costs the
-- rows it scans, never an OFFSET. A text or JSON search also gets a floor
-- (id >= %(floor)s): it scans a bounded window of ids (the caller picks it, and links to
-- the next older window), so a rare match over millions of finished rows stays fast
-- instead of reading the whole table. strpos() instead of LIKE: no escaping needed.
-- scheduled: queued with run_at in the future (shown as its own state).
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
  AND (%(q)s::text IS NULL
       OR id = %(q_id)s::bigint
       OR tags @> ARRAY[%(q)s::text]
       OR strpos(lower(task), lower(%(q)s::text)) > 0
       OR strpos(lower(last_error), lower(%(q)s::text)) > 0
       OR strpos(lower(args::text), lower(%(q)s::text)) > 0
       OR strpos(lower(kwargs::text), lower(%(q)s::text)) > 0)
  AND (%(contains)s::jsonb IS NULL OR args @> %(contains)s::jsonb OR kwargs @> %(contains)s::jsonb)
ORDER BY id DESC
LIMIT %(limit)s
