-- pgqueue bench: the scheduled jobs' start (the task's result, epoch seconds on the host's
-- clock, which is the database's) and their run_at (epoch seconds).
SELECT id, result::text::float8, extract(epoch FROM run_at)::float8
FROM pgqueue.jobs
WHERE id = ANY (%(ids)s::bigint[]) AND state = 'succeeded'
