-- How many jobs match the `pgqueue jobs` filters (see admin_jobs_list.sql), counted up
-- to `cap` rows only: a truncation notice or a confirmation prompt must not scan a
-- table of millions to say "more than 100,000".
SELECT count(*) FROM (
    SELECT 1 FROM pgqueue.jobs
    WHERE (%(state)s::text IS NULL OR state = %(state)s::text)
      AND (%(scheduled)s::boolean IS NULL OR (run_at > now()) = %(scheduled)s::boolean)
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND (%(task)s::text IS NULL OR task = %(task)s::text)
      AND (%(tag)s::text IS NULL OR tags @> ARRAY[%(tag)s::text])
      AND (%(before)s::timestamptz IS NULL OR coalesce(finished_at, created_at) < %(before)s::timestamptz)
      AND state = ANY(%(states)s::text[])
    LIMIT %(cap)s
) capped
