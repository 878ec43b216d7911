-- Schedules for `pgqueue schedules ls`, with the job of the latest tick.
SELECT s.name, s.task, s.queue, s.cron, s.interval_s, s.timezone, s.misfire, s.enabled,
       s.next_fire_at, s.last_fire_at,
       (SELECT t.job_id FROM pgqueue.schedule_ticks t WHERE t.schedule = s.name
        ORDER BY t.fire_at DESC LIMIT 1) AS last_job_id
FROM pgqueue.schedules s
ORDER BY s.name
