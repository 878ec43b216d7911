-- Release the pruner election taken by admin_retention_lock.
SELECT pg_advisory_unlock(hashtextextended('pgqueue.retention', 0))
