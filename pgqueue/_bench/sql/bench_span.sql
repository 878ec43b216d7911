-- pgqueue bench: finished jobs of the queue since %(since)s and the seconds from the first
-- start to the last finish (database clock), so interpreter start-up is not counted.
SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at))::float8
FROM pgqueue.jobs
WHERE queue = %(queue)s AND finished_at IS NOT NULL AND finished_at >= %(since)s
