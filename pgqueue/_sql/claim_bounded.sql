-- The bounded claim: claim.sql with each queue's index walk starting at a lower bound.
--
-- Why: while a long transaction pins the xmin horizon, the jobs_claim_idx entries of rows
-- already claimed (queued -> running) can be neither removed nor marked dead, and they
-- sit at the head of each queue's index range. A claim walking from the head visits every
-- one of them (an index entry and a heap visit each) before it finds a live row, so its
-- cost grows with everything claimed since the transaction began. This statement starts
-- each queue's walk at a bound the caller remembered from its previous claim (the first
-- row it got from that queue, %(b_priority)s / %(b_run_at)s / %(b_id)s, parallel to
-- %(queues)s; NULL for a queue without one: from the very start of the index).
--
-- Shape: the index is (queue, priority DESC, run_at, id), so a row comparison over all
-- three cannot bound a scan (mixed directions). Per queue it is two ordered branches under
-- one LIMIT: (1) rows of the bound's priority with (run_at, id) >= the bound's, an index
-- range scan starting at the bound; (2) rows of any lower priority, a range scan starting
-- at the first key below it. UNION ALL runs them in that order and the LIMIT stops pulling
-- when it has enough, so branch 2 starts (and locks anything) only when branch 1 ran dry;
-- each branch has its own FOR UPDATE SKIP LOCKED. Serial keys, pause and limits as in
-- claim.sql (a limited queue comes back as a marker row).
-- Rate-limited tasks: jobs of %(rate_tasks)s (this worker's tasks with a rate_limit) are
-- left to the task-limited claim (claim_task_lock.sql + claim_task.sql). A worker without
-- such tasks passes an empty array: the test is true for every row, the plan unchanged.
-- Expiry as in claim.sql: a picked job whose expires_at has passed is ended here instead of started
-- (cancelled, pgqueue.JobExpired); only running rows are returned.
-- The UPDATE finds the picked rows as claim.sql does (the probe shape).
--
-- Bounded staleness, precisely: this claim never returns a row that sorts before the
-- queue's bound in claim order (priority DESC, run_at, id). Such a row exists only when it
-- became claimable after the bound was taken: a job of higher priority, or of the same
-- priority with an older run_at, enqueued since; a serial-key job whose key was released; a
-- job handed back, rescued or released by its last dependency into its old place. The
-- caller (pgqueue._worker.claims.Claimer) runs the full claim, claim.sql, whenever this one
-- comes back short and at least every few milliseconds (an interval that adapts so the
-- full claims take a bounded share of the claim time), so such a row waits at most that
-- interval. Order among the rows this claim does return is the strict claim order.
WITH settings AS (
    SELECT q.name,
           coalesce(q.b_priority, 32767::smallint) AS b_priority,
           coalesce(q.b_run_at, '-infinity'::timestamptz) AS b_run_at,
           coalesce(q.b_id, '-9223372036854775808'::bigint) AS b_id,
           coalesce(p.paused, false) AS paused,
           coalesce(p.concurrency_limit IS NOT NULL OR p.rate_limit IS NOT NULL, false) AS limited
    FROM unnest(%(queues)s::text[], %(b_priority)s::smallint[], %(b_run_at)s::timestamptz[],
                %(b_id)s::bigint[]) AS q(name, b_priority, b_run_at, b_id)
    LEFT JOIN pgqueue.queues AS p ON p.name = q.name
), picked AS (
    SELECT c.id, (c.expires_at <= now()) IS TRUE AS expired
    FROM settings AS served
    CROSS JOIN LATERAL (
        SELECT * FROM (
         SELECT j.id, j.priority, j.run_at, j.expires_at
         FROM pgqueue.jobs AS j
         WHERE j.state = 'queued'
           AND j.queue = served.name
           AND j.priority = served.b_priority
           AND (j.run_at, j.id) >= (served.b_run_at, served.b_id)
           AND j.run_at <= now()
           AND (j.serial_key IS NULL OR pgqueue.serial_turn(j.serial_key, j.id))
           AND j.task <> ALL (%(rate_tasks)s::text[])
         ORDER BY j.priority DESC, j.run_at, j.id
         LIMIT %(limit)s
         FOR UPDATE SKIP LOCKED) AS at_bound
        UNION ALL
        SELECT * FROM (
         SELECT j.id, j.priority, j.run_at, j.expires_at
         FROM pgqueue.jobs AS j
         WHERE j.state = 'queued'
           AND j.queue = served.name
           AND j.priority < served.b_priority
           AND j.run_at <= now()
           AND (j.serial_key IS NULL OR pgqueue.serial_turn(j.serial_key, j.id))
           AND j.task <> ALL (%(rate_tasks)s::text[])
         LIMIT %(limit)s
         FOR UPDATE SKIP LOCKED) AS below
        LIMIT %(limit)s
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
