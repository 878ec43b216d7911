-- Tick slots are only needed while a duplicate could still race for them: delete those
-- fired more than %(keep_s)s seconds ago, at most %(batch)s per statement (the caller
-- repeats until a batch comes back short), never a schedule's newest (`pgqueue schedules
-- ls` shows its job). Reads the primary key (schedule, fire_at) per schedule.
DELETE FROM pgqueue.schedule_ticks AS t
WHERE (t.schedule, t.fire_at) IN (
    SELECT o.schedule, o.fire_at
    FROM pgqueue.schedule_ticks AS o
    WHERE o.fired_at < now() - make_interval(secs => %(keep_s)s::float8)
      AND o.fire_at < (SELECT max(n.fire_at) FROM pgqueue.schedule_ticks AS n
                       WHERE n.schedule = o.schedule)
    LIMIT %(batch)s
)
