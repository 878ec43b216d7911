-- The fast claim: up to %(limit)s due jobs of the served queues that have no limits.
--
-- Shape: for each served queue that is neither paused nor limited, a LATERAL subquery
-- walks the partial index jobs_claim_idx (queue, priority DESC, run_at, id WHERE state =
-- 'queued') in order and stops after %(limit)s rows: an index range scan per queue, never
-- a sort of the whole backlog (a plain `queue = ANY(...)` makes the planner read and sort
-- every queued row). FOR UPDATE SKIP LOCKED inside it means concurrent workers never wait
-- on each other and never pick the same row. The outer ORDER BY/LIMIT merges the queues'
-- heads; with several queues, rows it drops stay locked only until this statement commits.
-- LIMIT is the caller's free execution slots (no hoarding). The attempt is counted here,
-- at claim, so the (id, attempt, worker_id) fence of every later write is known at once.
--
-- Limits: a queue with a concurrency or rate limit is never claimed here (its claims must
-- serialise on its queues row: claim_lock.sql + claim_limited.sql). The settings lookup
-- is one primary-key probe per served queue, the same one the pause check needs, and the
-- queues rows are only read, never locked. Such a queue comes back as a marker row (id
-- NULL, queue = its name) so the worker learns of a limit set at runtime on its very
-- next claim, without an extra query.
--
-- Serial keys: a job with a serial_key is claimable only when it is the oldest live job
-- of its key and no job of its key runs: pgqueue.serial_turn() (migration 0007; two index
-- probes, jobs_serial_idx and jobs_serial_running_idx, with this statement's snapshot; a
-- function so the planner does not plan them on every claim). Jobs without a key skip
-- the test (OR short-circuits). The
-- unique index jobs_serial_running_idx turns a race this snapshot cannot see into a
-- unique violation; the caller retries.
--
-- Rate-limited tasks: jobs of %(rate_tasks)s (this worker's tasks with a rate_limit) are
-- left to the task-limited claim (claim_task_lock.sql + claim_task.sql). A worker without
-- such tasks passes an empty array: the test is true for every row, the plan unchanged.
-- Expiry: a picked job whose expires_at has passed is ended here instead of started
-- (state 'cancelled', an errors entry of type pgqueue.JobExpired, attempt not counted),
-- in the same UPDATE so it costs nothing extra; the final SELECT returns only the rows
-- set running, and a NOTIFY (the `woken` CTE) tells the queue's workers to claim again,
-- since such a claim comes back short while more may be due. Filtering expired rows in
-- the index walk instead would leave them queued for ever at the head of their queue.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per picked job,
-- whatever the statistics say.
-- UPDATE ... RETURNING does not keep the subquery's order: the caller sorts the rows.
-- Columns returned: those of pgqueue.job.JobRow, in order.
WITH settings AS (
    SELECT q.name,
           coalesce(p.paused, false) AS paused,
           coalesce(p.concurrency_limit IS NOT NULL OR p.rate_limit IS NOT NULL, false) AS limited
    FROM unnest(%(queues)s::text[]) AS q(name)
    LEFT JOIN pgqueue.queues AS p ON p.name = q.name
), picked AS (
    SELECT c.id, (c.expires_at <= now()) IS TRUE AS expired
    FROM settings AS served
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.expires_at
        FROM pgqueue.jobs AS j
        WHERE j.state = 'queued'
          AND j.queue = served.name
          AND j.run_at <= now()
          AND (j.serial_key IS NULL OR pgqueue.serial_turn(j.serial_key, j.id))
          AND j.task <> ALL (%(rate_tasks)s::text[])
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE NOT served.paused AND NOT served.limited
    ORDER BY c.priority DESC, c.run_at, c.id
    LIMIT %(limit)s
), claimed AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE WHEN picked.expired THEN 'cancelled' ELSE 'running' END,
        attempt = CASE WHEN picked.expired THEN j.attempt ELSE j.attempt + 1 END,
        worker_id = CASE WHEN picked.expired THEN NULL ELSE %(worker)s::uuid END,
        lease_expires_at = CASE WHEN picked.expired THEN NULL
                                ELSE now() + make_interval(secs => %(lease_s)s) END,
        started_at = CASE WHEN picked.expired THEN NULL ELSE now() END,
        finished_at = CASE WHEN picked.expired THEN now() ELSE j.finished_at END,
        last_error = CASE WHEN picked.expired
                          THEN 'JobExpired: expired at ' || j.expires_at::text
                               || ' before a worker started it'
                          ELSE j.last_error END,
        errors = CASE WHEN picked.expired
                      THEN j.errors || jsonb_build_array(jsonb_build_object(
                               'at', now(), 'attempt', j.attempt, 'type', 'pgqueue.JobExpired',
                               'message', 'expired at ' || j.expires_at::text
                                          || ' before a worker started it',
                               'traceback', NULL))
                      ELSE j.errors END
    FROM picked
    WHERE j.id = ANY (ARRAY[picked.id])
    RETURNING j.id, j.queue, j.task, j.args, j.kwargs, j.priority, j.state, j.attempt,
              j.max_attempts, j.run_at, j.created_at, j.started_at, j.finished_at, j.result,
              j.last_error, j.errors, j.unique_key, j.tags
), woken AS (
    -- Expired jobs ended here make this claim come back short although more may be due:
    -- wake the queue's workers (this one included) to claim again now rather than at
    -- their next poll. Only a claim that ended an expired job sends it.
    SELECT pg_notify(/*NOTIFY_CHANNEL*/, q.queue)
    FROM (SELECT DISTINCT c.queue FROM claimed AS c WHERE c.state = 'cancelled') AS q
)
SELECT * FROM claimed WHERE state = 'running' AND (SELECT count(*) FROM woken) >= 0
UNION ALL
SELECT NULL, name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL
FROM settings
WHERE limited AND NOT paused
