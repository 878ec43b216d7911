-- The task-limited claim's lock rows: one per rate-limited task (created on first use,
-- never deleted by pgqueue; an operator may delete them, the next claim recreates them).
INSERT INTO pgqueue.task_limits (task)
SELECT t FROM unnest(%(tasks)s::text[]) AS t
ON CONFLICT (task) DO NOTHING
