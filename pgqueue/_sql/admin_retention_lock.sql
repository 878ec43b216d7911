-- Elect one pruner across all workers: a session advisory lock, released explicitly
-- (admin_retention_unlock) or by the session ending if the worker dies.
SELECT pg_try_advisory_lock(hashtextextended('pgqueue.retention', 0))
