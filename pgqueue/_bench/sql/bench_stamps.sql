-- pgqueue bench: the latency jobs' results (the task's start time, epoch seconds).
SELECT id, result::text::float8
FROM pgqueue.jobs
WHERE id = ANY (%(ids)s::bigint[]) AND state = 'succeeded'
