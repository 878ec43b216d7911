-- The limited claim, step 2 of 2: claim due jobs of the queues claim_lock.sql locked in
-- this transaction (%(locked)s), within each queue's limits. The row locks make these
-- claims take turns; this statement's snapshot, newer than the lock, sees every job the
-- previous holders started.
--
-- Per queue the allowance is the least of: the free slots (%(limit)s); concurrency_limit
-- minus its running jobs (counted through jobs_lease_idx, the partial index of running
-- rows: bounded by the slots of all workers, and only limited claims pay for it); and
-- rate_limit minus the starts of the last rate_period_s seconds, summed from the start
-- log pgqueue.queue_starts (a sliding window: at most rate_limit starts in any window of
-- that length). The clock is read once, after the lock was granted, so the log's times
-- increase in lock order; started_at of the claimed jobs uses the same value.
-- Then, per queue, the same ordered LATERAL index walk as claim.sql, serial keys
-- included, limited to the allowance. The claim is logged for rate-limited queues and
-- log rows that left the window are deleted.
--
-- Expiry: a picked job whose expires_at has passed is ended here instead of started
-- (state 'cancelled', an errors entry of type pgqueue.JobExpired, attempt not counted),
-- in the same UPDATE so it costs nothing extra; the final SELECT returns only the rows
-- set running. Filtering expired rows in the index walk instead would leave them queued
-- for ever at the head of their queue.
-- Expired rows use up allowance but are not logged as starts.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per picked job,
-- whatever the statistics say.
-- Besides the claimed jobs (columns of pgqueue.job.JobRow), one marker row (id NULL)
-- per queue whose limit held back due jobs: run_at is when a claim can start more
-- (the oldest start in the window leaves it; for a concurrency limit, %(recheck_s)s
-- from now, since jobs finished by other workers wake no one) and started_at is the
-- clock of this claim, so the worker sleeps (run_at - started_at) on the database's
-- clock, never comparing it with its own.
WITH clock AS MATERIALIZED (
    SELECT clock_timestamp() AS t
), settings AS MATERIALIZED (
    SELECT p.name, p.concurrency_limit, p.rate_limit, p.rate_period_s
    FROM pgqueue.queues AS p
    WHERE p.name = ANY (%(locked)s::text[])
      AND NOT p.paused
), usage AS MATERIALIZED (
    SELECT s.*,
           CASE WHEN s.concurrency_limit IS NOT NULL THEN
               (SELECT count(*) FROM pgqueue.jobs AS r
                WHERE r.state = 'running' AND r.queue = s.name) END AS running,
           CASE WHEN s.rate_limit IS NOT NULL THEN
               (SELECT coalesce(sum(l.n), 0) FROM pgqueue.queue_starts AS l
                WHERE l.queue = s.name
                  AND l.started_at > (SELECT t FROM clock)
                                     - make_interval(secs => s.rate_period_s)) END AS started,
           CASE WHEN s.rate_limit IS NOT NULL THEN
               (SELECT min(l.started_at) FROM pgqueue.queue_starts AS l
                WHERE l.queue = s.name
                  AND l.started_at > (SELECT t FROM clock)
                                     - make_interval(secs => s.rate_period_s)) END AS oldest
    FROM settings AS s
), allowance AS MATERIALIZED (
    SELECT u.*,
           greatest(0, least(%(limit)s::int, u.concurrency_limit - u.running,
                             u.rate_limit - u.started))::int AS n
    FROM usage AS u
), picked AS (
    SELECT c.id, (c.expires_at <= now()) IS TRUE AS expired
    FROM allowance AS a
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.expires_at
        FROM pgqueue.jobs AS j
        WHERE j.state = 'queued'
          AND j.queue = a.name
          AND j.run_at <= now()
          AND (j.serial_key IS NULL OR pgqueue.serial_turn(j.serial_key, j.id))
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT a.n
        FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE a.n > 0
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
), logged AS (
    INSERT INTO pgqueue.queue_starts (queue, started_at, n)
    SELECT c.queue, (SELECT t FROM clock), count(*)
    FROM claimed AS c
    JOIN allowance AS a ON a.name = c.queue
    WHERE a.rate_limit IS NOT NULL AND c.state = 'running'
    GROUP BY c.queue
), expired AS (
    DELETE FROM pgqueue.queue_starts AS l
    USING allowance AS a
    WHERE l.queue = a.name
      AND (a.rate_limit IS NULL
           OR l.started_at <= (SELECT t FROM clock) - make_interval(secs => a.rate_period_s))
), woken AS (
    -- Expired jobs ended here make this claim come back short although more may be due:
    -- wake the queue's workers (this one included) to claim again now rather than at
    -- their next poll. Only a claim that ended an expired job sends it.
    SELECT pg_notify(/*NOTIFY_CHANNEL*/, q.queue)
    FROM (SELECT DISTINCT c.queue FROM claimed AS c WHERE c.state = 'cancelled') AS q
)
SELECT * FROM claimed WHERE state = 'running' AND (SELECT count(*) FROM woken) >= 0
UNION ALL
SELECT NULL, a.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       CASE WHEN a.rate_limit IS NOT NULL AND a.started + a.n >= a.rate_limit
            THEN coalesce(a.oldest, (SELECT t FROM clock))
                 + make_interval(secs => a.rate_period_s)
            ELSE (SELECT t FROM clock) + make_interval(secs => %(recheck_s)s) END,
       NULL, (SELECT t FROM clock), NULL, NULL, NULL, NULL, NULL, NULL
FROM allowance AS a
WHERE a.n < %(limit)s
  AND (SELECT count(*) FROM (SELECT FROM pgqueue.jobs AS d
                             WHERE d.state = 'queued' AND d.queue = a.name AND d.run_at <= now()
                             LIMIT a.n + 1) AS due) > a.n
