-- Requeue dead or cancelled jobs with a fresh attempt budget, in batches of `limit` rows.
-- `ids` NULL means "every job matching the filters". The error history is kept.
-- A job whose unique_key is held by a live job is skipped (requeueing it would break
-- jobs_unique_key_idx), and of several finished jobs sharing a key only the newest is
-- requeued. The outer WHERE re-checks the state, so a concurrent retry cannot requeue
-- a job twice.
--
-- Workflows: a retried job that depends on a job still unfinished, or on one this same
-- call retries (in this batch or a later one: it matches the selection), waits for it
-- again (`waiting`, pending_dependencies recounted) instead of being queued to run
-- without it; so retrying a failed step together with the dependents cancelled because
-- of it (a bulk retry by filter) heals the workflow exactly as retrying the step alone
-- does (pgqueue.rearm_dependents, migration 0009). A dependent retried on its own, its
-- failed dependency left alone, runs now: the operator asked for it. Error callbacks
-- (dependency_args 'error') are always queued.
WITH picked AS (
    SELECT DISTINCT ON (j.unique_key, CASE WHEN j.unique_key IS NULL THEN j.id END) j.id
    FROM pgqueue.jobs j
    WHERE j.state = ANY(%(states)s::text[])
      AND (%(ids)s::bigint[] IS NULL OR j.id = ANY(%(ids)s::bigint[]))
      AND (%(queue)s::text IS NULL OR j.queue = %(queue)s::text)
      AND (%(task)s::text IS NULL OR j.task = %(task)s::text)
      AND (j.unique_key IS NULL OR NOT EXISTS (
              SELECT 1 FROM pgqueue.jobs l
              WHERE l.unique_key = j.unique_key
                AND l.state IN ('waiting', 'queued', 'running')))
    ORDER BY j.unique_key, CASE WHEN j.unique_key IS NULL THEN j.id END, j.id DESC
    LIMIT %(limit)s
), waits AS (
    SELECT picked.id, count(*)::int AS pending
    FROM picked
    JOIN pgqueue.job_dependencies AS d ON d.job_id = picked.id
    JOIN pgqueue.jobs AS p ON p.id = d.depends_on
    WHERE p.state IN ('waiting', 'queued', 'running')
       OR (p.state = ANY(%(states)s::text[])
           AND (%(ids)s::bigint[] IS NULL OR p.id = ANY(%(ids)s::bigint[]))
           AND (%(queue)s::text IS NULL OR p.queue = %(queue)s::text)
           AND (%(task)s::text IS NULL OR p.task = %(task)s::text))
    GROUP BY picked.id
)
UPDATE pgqueue.jobs j
SET state = CASE WHEN waits.pending > 0 AND j.dependency_args IS DISTINCT FROM 'error'
                 THEN 'waiting' ELSE 'queued' END,
    pending_dependencies = CASE WHEN waits.pending > 0 AND j.dependency_args IS DISTINCT FROM 'error'
                                THEN waits.pending ELSE 0 END,
    attempt = 0, run_at = now(), started_at = NULL, finished_at = NULL,
    worker_id = NULL, lease_expires_at = NULL, cancel_requested_at = NULL, result = NULL
FROM picked
LEFT JOIN waits ON waits.id = picked.id
WHERE j.id = picked.id AND j.state = ANY(%(states)s::text[])
RETURNING j.id, j.queue
