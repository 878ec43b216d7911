-- The slot row of one tick: only the first scheduler to insert it fires the job.
INSERT INTO pgqueue.schedule_ticks (schedule, fire_at, fired_by)
VALUES (%(name)s, %(fire_at)s, %(fired_by)s)
ON CONFLICT DO NOTHING
RETURNING fire_at
