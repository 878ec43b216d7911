-- pgqueue bench: the latency jobs' results (the task's start time, epoch seconds).
SELECT id, result::text::float8
FROM pgqueue.jobs
WHERE queue = %(queue)s AND task = 'bench.stamp' AND state = 'succeeded'
