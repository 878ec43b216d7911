-- What a worker process can run, kept in its pgqueue.workers row (meta->'tasks': the task
-- names registered in its app; meta->'pool': how it runs sync tasks). Read by `pgqueue
-- workers ls --tasks`, `pgqueue tasks ls` and doctor's unrunnable-jobs check. Sent at
-- start and again at every safety-net poll, but writes only when the row lacks it (a row
-- re-inserted by the heartbeat after it was pruned): one primary-key probe otherwise.
UPDATE pgqueue.workers
SET meta = meta || jsonb_build_object('tasks', %(tasks)s::jsonb, 'pool', %(pool)s::text)
WHERE id = %(worker)s
  AND ((meta -> 'tasks') IS DISTINCT FROM %(tasks)s::jsonb
       OR (meta ->> 'pool') IS DISTINCT FROM %(pool)s::text)
