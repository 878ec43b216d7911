-- Seconds until the earliest scheduled (future run_at) job of these queues is due and its
-- run_at as epoch seconds (NULL, NULL: none is), and the database's clock as epoch seconds (the worker maps the run_at carried
-- by scheduled wake-ups onto its own clock with it: pgqueue/_worker/due.py).
--
-- Run before the claim that a timer, a poll, the worker's start or a reconnect asks for
-- (a job due between the two is the claim's), so an idle worker sleeps until that moment; scheduled inserts also announce their
-- run_at by NOTIFY (migration 0010), which sets the timer without this query.
--
-- Shape: jobs_claim_idx is (queue, priority DESC, run_at, id) WHERE state = 'queued', so
-- the earliest run_at of a queue is the earliest of each priority's part of it. A
-- recursive CTE skips from one priority present to the next (one index descent each:
-- a loose index scan), and for each (queue, priority) one descent to the first run_at
-- after now(). That is a few index probes per queue whatever the backlog: a plain
-- min(run_at) reads every queued row of the queue (a backlog of due jobs, e.g. behind a
-- serial key or a limit, makes that slow at every poll).
-- %(tasks)s (NULL: any): the tasks this worker can run (a job of another task is not its work).
WITH RECURSIVE prio AS (
    SELECT q.name AS queue,
           (SELECT j.priority FROM pgqueue.jobs AS j
            WHERE j.state = 'queued' AND j.queue = q.name
            ORDER BY j.priority DESC LIMIT 1) AS priority
    FROM unnest(%(queues)s::text[]) AS q(name)
    UNION ALL
    SELECT p.queue,
           (SELECT j.priority FROM pgqueue.jobs AS j
            WHERE j.state = 'queued' AND j.queue = p.queue AND j.priority < p.priority
            ORDER BY j.priority DESC LIMIT 1)
    FROM prio AS p
    WHERE p.priority IS NOT NULL
)
SELECT extract(epoch FROM min(n.run_at) - now())::float8 AS due_in_s,
       extract(epoch FROM min(n.run_at))::float8 AS run_at_epoch,
       extract(epoch FROM clock_timestamp())::float8 AS clock_epoch
FROM prio AS p
LEFT JOIN LATERAL (
    SELECT j.run_at FROM pgqueue.jobs AS j
    WHERE j.state = 'queued' AND j.queue = p.queue AND j.priority = p.priority
      AND j.run_at > now()
      AND (%(tasks)s::text[] IS NULL OR j.task = ANY (%(tasks)s::text[]))
    ORDER BY j.run_at LIMIT 1
) AS n ON true
