-- One job. NULL run_at means "now" (the column default is not used because an
-- explicit NULL would override it).
INSERT INTO pgqueue.jobs (queue, task, args, kwargs, priority, max_attempts, run_at,
                          unique_key, tags)
VALUES (%(queue)s, %(task)s, %(args)s, %(kwargs)s, %(priority)s, %(max_attempts)s,
        coalesce(%(run_at)s, now()), %(unique_key)s, %(tags)s)
RETURNING id
