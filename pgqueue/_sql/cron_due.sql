-- Schedules due now. SKIP LOCKED: another scheduler already firing one is left to it
-- (the tick row's primary key is the real exactly-once guarantee; this only saves work).
SELECT name, task, queue, cron, interval_s, timezone, misfire, args, kwargs, priority,
       next_fire_at
FROM pgqueue.schedules
WHERE enabled AND (next_fire_at IS NULL OR next_fire_at <= %(now)s)
ORDER BY next_fire_at NULLS FIRST
FOR UPDATE SKIP LOCKED
