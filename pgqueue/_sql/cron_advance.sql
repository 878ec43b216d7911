-- Remember what fired and when the schedule is due next.
UPDATE pgqueue.schedules
SET last_fire_at = coalesce(%(last_fire_at)s, last_fire_at), next_fire_at = %(next_fire_at)s
WHERE name = %(name)s
