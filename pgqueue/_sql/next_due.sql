-- Seconds until the earliest scheduled (future run_at) job of these queues is due, or NULL.
-- Run only after a timer-driven claim came back short, so an idle worker sleeps until that
-- moment instead of polling; scheduled jobs send no NOTIFY when inserted. A min() per queue
-- over the partial claim index; queued rows of a queue are few once it is drained.
-- %(tasks)s (NULL: any): a stop_when_idle worker waits only for the tasks it can run.
SELECT extract(epoch FROM min(run_at) - now())::float8
FROM pgqueue.jobs
WHERE state = 'queued'
  AND queue = ANY (%(queues)s::text[])
  AND run_at > now()
  AND (%(tasks)s::text[] IS NULL OR task = ANY (%(tasks)s::text[]))
