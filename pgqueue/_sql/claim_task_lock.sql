-- The task-limited claim, step 1 of 2 (one transaction): lock the task_limits rows of
-- this worker's rate-limited tasks, in name order (every claimer locks in the same order,
-- so they never deadlock). Claims of a rate-limited task's jobs thereby run one at a time
-- across all workers and hosts; workers without rate-limited tasks never take this lock.
-- Two statements for the reason claim_lock.sql gives: claim_task.sql's snapshot, taken
-- after the lock was granted, sees the starts the previous holder logged.
-- set_config in the filter bounds the wait for a row an operator's transaction holds.
-- Returns the names locked (fewer than asked: run claim_task_ensure.sql, then again).
SELECT l.task
FROM pgqueue.task_limits AS l
WHERE l.task = ANY (%(tasks)s::text[])
  AND set_config('lock_timeout', %(lock_timeout)s, true) IS NOT NULL
ORDER BY l.task
FOR UPDATE
