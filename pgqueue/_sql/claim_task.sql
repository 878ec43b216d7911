-- The task-limited claim, step 2 of 2: claim due jobs of this worker's rate-limited tasks
-- (%(tasks)s, each allowing %(limits)s starts per %(periods)s seconds, parallel arrays;
-- their task_limits rows are locked by claim_task_lock.sql in this transaction) from the
-- served queues that are neither paused nor limited themselves (in a queue with a
-- concurrency or rate limit of its own, the queue's limits apply instead: claim_limited.sql).
-- The fast claims (claim.sql, claim_bounded.sql) skip these tasks' jobs.
--
-- Per task the allowance is the least of the free slots (%(limit)s) and its rate limit
-- minus its starts in the last period, summed from the start log pgqueue.task_starts (a
-- sliding window: at most rate_limit starts in any window of that length, across every
-- worker). The clock is read once, after the lock was granted, so the log's times
-- increase in lock order; started_at of the claimed jobs uses the same value.
--
-- Shape: per served queue, the head of its due jobs in claim order (at most %(scan)s
-- entries of jobs_claim_idx, index only), then those rows by primary key, keeping the
-- jobs of tasks that have allowance left; row_number() then cuts each task to its
-- allowance (rows cut stay locked only until this transaction ends). The cap bounds the
-- cost whatever the backlog of other tasks: a job of a limited task further back is
-- claimed once the head in front of it has been claimed. A rate-limited task that can
-- build a big backlog of its own wants a queue of its own (its waiting jobs fill the head).
-- Expiry, serial keys and the probe-shaped UPDATE as in claim.sql.
-- Besides the claimed jobs (columns of pgqueue.job.JobRow), one marker row (id NULL,
-- task in the queue column) per task whose limit is used up: run_at is when the oldest
-- start leaves the window (a claim can start more then) and started_at this claim's clock.
WITH clock AS MATERIALIZED (
    SELECT clock_timestamp() AS t
), usage AS MATERIALIZED (
    SELECT l.task, l.rate_limit, l.period,
           (SELECT coalesce(sum(s.n), 0) FROM pgqueue.task_starts AS s
            WHERE s.task = l.task
              AND s.started_at > (SELECT t FROM clock) - make_interval(secs => l.period)) AS started,
           (SELECT min(s.started_at) FROM pgqueue.task_starts AS s
            WHERE s.task = l.task
              AND s.started_at > (SELECT t FROM clock) - make_interval(secs => l.period)) AS oldest
    FROM unnest(%(tasks)s::text[], %(limits)s::int[], %(periods)s::float8[])
         AS l(task, rate_limit, period)
), allowance AS MATERIALIZED (
    SELECT u.*, greatest(0, least(%(limit)s::int, u.rate_limit - u.started))::int AS n
    FROM usage AS u
), open AS MATERIALIZED (
    SELECT coalesce(array_agg(a.task), '{}') AS tasks FROM allowance AS a WHERE a.n > 0
), served AS MATERIALIZED (
    SELECT q.name
    FROM unnest(%(queues)s::text[]) AS q(name)
    LEFT JOIN pgqueue.queues AS p ON p.name = q.name
    WHERE NOT coalesce(p.paused, false)
      AND NOT coalesce(p.concurrency_limit IS NOT NULL OR p.rate_limit IS NOT NULL, false)
), candidates AS (
    SELECT c.id, c.task, c.priority, c.run_at, c.expired,
           row_number() OVER (PARTITION BY c.task ORDER BY c.priority DESC, c.run_at, c.id) AS k
    FROM served AS s
    CROSS JOIN LATERAL (
        SELECT j.id, j.task, j.priority, j.run_at, (j.expires_at <= now()) IS TRUE AS expired
        FROM (SELECT h.id FROM pgqueue.jobs AS h
              WHERE h.state = 'queued' AND h.queue = s.name AND h.run_at <= now()
              ORDER BY h.priority DESC, h.run_at, h.id
              LIMIT %(scan)s) AS head
        -- The probe shape (__init__.py); the state test in one IS TRUE expression, so the
        -- planner cannot answer it from jobs_claim_idx (a scan of it per head row).
        JOIN pgqueue.jobs AS j ON j.id = ANY (ARRAY[head.id])
        WHERE (j.state = 'queued' AND j.task = ANY ((SELECT tasks FROM open)::text[])) IS TRUE
          AND (j.serial_key IS NULL OR pgqueue.serial_turn(j.serial_key, j.id))
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT %(limit)s
        FOR UPDATE OF j SKIP LOCKED
    ) AS c
    WHERE cardinality((SELECT tasks FROM open)) > 0
), picked AS (
    SELECT c.id, c.expired
    FROM candidates AS c
    JOIN allowance AS a ON a.task = c.task
    WHERE c.k <= a.n
    ORDER BY c.priority DESC, c.run_at, c.id
    LIMIT %(limit)s
), claimed AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE WHEN picked.expired THEN 'cancelled' ELSE 'running' END,
        attempt = CASE WHEN picked.expired THEN j.attempt ELSE j.attempt + 1 END,
        worker_id = CASE WHEN picked.expired THEN NULL ELSE %(worker)s::uuid END,
        lease_expires_at = CASE WHEN picked.expired THEN NULL
                                ELSE now() + make_interval(secs => %(lease_s)s) END,
        started_at = CASE WHEN picked.expired THEN NULL ELSE (SELECT t FROM clock) END,
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
), counted AS MATERIALIZED (
    SELECT c.task, count(*) AS n FROM claimed AS c WHERE c.state = 'running' GROUP BY c.task
), logged AS (
    INSERT INTO pgqueue.task_starts (task, started_at, n)
    SELECT c.task, (SELECT t FROM clock), c.n FROM counted AS c
), pruned AS (
    DELETE FROM pgqueue.task_starts AS s
    USING allowance AS a
    WHERE s.task = a.task
      AND s.started_at <= (SELECT t FROM clock) - make_interval(secs => a.period)
), woken AS (
    SELECT pg_notify(/*NOTIFY_CHANNEL*/, q.queue)
    FROM (SELECT DISTINCT c.queue FROM claimed AS c WHERE c.state = 'cancelled') AS q
)
SELECT * FROM claimed WHERE state = 'running' AND (SELECT count(*) FROM woken) >= 0
UNION ALL
SELECT NULL, a.task, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       coalesce(a.oldest, (SELECT t FROM clock)) + make_interval(secs => a.period),
       NULL, (SELECT t FROM clock), NULL, NULL, NULL, NULL, NULL, NULL
FROM allowance AS a
LEFT JOIN counted AS c ON c.task = a.task
WHERE a.started + coalesce(c.n, 0) >= a.rate_limit
