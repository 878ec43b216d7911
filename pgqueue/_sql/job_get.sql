-- One job by id, the columns of pgqueue.job.JobRow in order.
SELECT id, queue, task, args, kwargs, priority, state, attempt, max_attempts, run_at,
       created_at, started_at, finished_at, result, last_error, errors, unique_key, tags,
       progress, expires_at
FROM pgqueue.jobs
WHERE id = %(id)s
