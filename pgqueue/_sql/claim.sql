-- Claim up to %(limit)s due jobs for one worker process, in claim order.
--
-- Shape: for each served queue that is not paused, a LATERAL subquery walks the partial
-- index jobs_claim_idx (queue, priority DESC, run_at, id WHERE state = 'queued') in order
-- and stops after %(limit)s rows: an index range scan per queue, never a sort of the whole
-- backlog (a plain `queue = ANY(...)` makes the planner read and sort every queued row).
-- FOR UPDATE SKIP LOCKED inside it means concurrent workers never wait on each other and
-- never pick the same row. The outer ORDER BY/LIMIT merges the queues' heads; with
-- several queues, rows it drops stay locked only until this statement commits.
-- LIMIT is the caller's free execution slots (no hoarding). The attempt is counted here,
-- at claim, so the (id, attempt, worker_id) fence of every later write is known at once.
-- UPDATE ... RETURNING does not keep the subquery's order: the caller sorts the rows.
-- Columns returned: those of pgqueue.job.JobRow, in order.
WITH served AS (
    SELECT q.name
    FROM unnest(%(queues)s::text[]) AS q(name)
    WHERE NOT EXISTS (SELECT 1 FROM pgqueue.queues p WHERE p.name = q.name AND p.paused)
), picked AS (
    SELECT c.id
    FROM served
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at
        FROM pgqueue.jobs AS j
        WHERE j.state = 'queued'
          AND j.queue = served.name
          AND j.run_at <= now()
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS c
    ORDER BY c.priority DESC, c.run_at, c.id
    LIMIT %(limit)s
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
