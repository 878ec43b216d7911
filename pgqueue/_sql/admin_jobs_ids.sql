-- The next batch of job ids matching the `pgqueue jobs` filters (see admin_jobs_list.sql)
-- and one of `states`, in id order after `after`: bulk actions walk the table by primary
-- key, one short transaction per batch, never holding locks across batches. The action
-- itself re-checks each row's state, so a job that changed since is left alone.
SELECT id FROM pgqueue.jobs
WHERE id > %(after)s
  AND state = ANY(%(states)s::text[])
  AND (%(state)s::text IS NULL OR state = %(state)s::text)
  AND (%(scheduled)s::boolean IS NULL OR (run_at > now()) = %(scheduled)s::boolean)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(tag)s::text IS NULL OR tags @> ARRAY[%(tag)s::text])
  AND (%(before)s::timestamptz IS NULL OR coalesce(finished_at, created_at) < %(before)s::timestamptz)
ORDER BY id
LIMIT %(limit)s
