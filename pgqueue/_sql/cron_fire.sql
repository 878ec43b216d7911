-- The job of a tick (or of "run-now", with fire_at NULL), from the stored definition,
-- and its id recorded on the tick row, in the tick's transaction.
WITH job AS (
    INSERT INTO pgqueue.jobs (queue, task, args, kwargs, priority, tags)
    SELECT queue, task, args, kwargs, priority, ARRAY['schedule:' || name]
    FROM pgqueue.schedules WHERE name = %(name)s
    RETURNING id
), tick AS (
    UPDATE pgqueue.schedule_ticks t SET job_id = job.id
    FROM job WHERE t.schedule = %(name)s AND t.fire_at = %(fire_at)s
)
SELECT id FROM job
