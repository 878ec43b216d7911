-- Register or update a schedule definition. Operators' runtime choices (enabled) are
-- kept; the next fire time is recomputed only when the timing definition changed, so a
-- restart of every worker neither skips nor repeats a tick.
INSERT INTO pgqueue.schedules AS s (name, task, queue, cron, interval_s, timezone, misfire,
                                    args, kwargs, priority, next_fire_at)
VALUES (%(name)s, %(task)s, %(queue)s, %(cron)s, %(interval_s)s, %(timezone)s, %(misfire)s,
        %(args)s, %(kwargs)s, %(priority)s, %(next_fire_at)s)
ON CONFLICT (name) DO UPDATE SET
    task = EXCLUDED.task, queue = EXCLUDED.queue, cron = EXCLUDED.cron,
    interval_s = EXCLUDED.interval_s, timezone = EXCLUDED.timezone,
    misfire = EXCLUDED.misfire, args = EXCLUDED.args, kwargs = EXCLUDED.kwargs,
    priority = EXCLUDED.priority, updated_at = now(),
    next_fire_at = CASE
        WHEN (s.cron, s.interval_s, s.timezone) IS DISTINCT FROM
             (EXCLUDED.cron, EXCLUDED.interval_s, EXCLUDED.timezone)
          OR s.next_fire_at IS NULL
        THEN EXCLUDED.next_fire_at ELSE s.next_fire_at END
WHERE (s.task, s.queue, s.cron, s.interval_s, s.timezone, s.misfire, s.args, s.kwargs, s.priority)
      IS DISTINCT FROM
      (EXCLUDED.task, EXCLUDED.queue, EXCLUDED.cron, EXCLUDED.interval_s, EXCLUDED.timezone,
       EXCLUDED.misfire, EXCLUDED.args, EXCLUDED.kwargs, EXCLUDED.priority)
   OR s.next_fire_at IS NULL
