-- pgqueue bench: final counts per task and state, with the attempts they took, so the
-- retry scenario can check every number exactly.
SELECT task, state, count(*), sum(attempt)::bigint
FROM pgqueue.jobs
WHERE queue = %(queue)s
GROUP BY task, state
