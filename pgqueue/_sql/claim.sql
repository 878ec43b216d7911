-- Claim up to %(limit)s due jobs for one worker process, in claim order.
--
-- Shape: the inner SELECT walks the partial index jobs_claim_idx (queue, priority DESC,
-- run_at, id WHERE state = 'queued') and locks its picks with FOR UPDATE SKIP LOCKED, so
-- concurrent workers never wait on each other and never pick the same row. LIMIT is the
-- caller's free execution slots (no hoarding). The attempt is counted here, at claim, so
-- the (id, attempt, worker_id) fence of every later write is known from the start.
-- Paused queues are removed from the array once per statement (an InitPlan), which keeps
-- the index condition a plain `queue = ANY(array)`.
-- UPDATE ... RETURNING does not keep the subquery's order: the caller sorts the rows.
-- Columns returned: those of pgqueue.job.JobRow, in order.
WITH picked AS (
    SELECT j.id
    FROM pgqueue.jobs AS j
    WHERE j.state = 'queued'
      AND j.queue = ANY (ARRAY(
            SELECT q FROM unnest(%(queues)s::text[]) AS q
            EXCEPT
            SELECT name FROM pgqueue.queues WHERE paused))
      AND j.run_at <= now()
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE pgqueue.jobs AS j
SET state = 'running',
    attempt = j.attempt + 1,
    worker_id = %(worker)s,
    lease_expires_at = now() + make_interval(secs => %(lease_s)s),
    started_at = now()
FROM picked
WHERE j.id = picked.id
RETURNING j.id, j.queue, j.task, j.args, j.kwargs, j.priority, j.state, j.attempt,
          j.max_attempts, j.run_at, j.created_at, j.started_at, j.finished_at, j.result,
          j.last_error, j.errors, j.unique_key, j.tags
