-- Requeue dead or cancelled jobs with a fresh attempt budget, in batches of `limit` rows.
-- `ids` NULL means "every job matching the filters". The error history is kept.
-- A job whose unique_key is held by a live job is skipped (requeueing it would break
-- jobs_unique_key_idx), and of several finished jobs sharing a key only the newest is
-- requeued. The outer WHERE re-checks the state, so a concurrent retry cannot requeue
-- a job twice.
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
)
UPDATE pgqueue.jobs j
SET state = 'queued', attempt = 0, run_at = now(), started_at = NULL, finished_at = NULL,
    worker_id = NULL, lease_expires_at = NULL, cancel_requested_at = NULL, result = NULL
FROM picked
WHERE j.id = picked.id AND j.state = ANY(%(states)s::text[])
RETURNING j.id, j.queue
