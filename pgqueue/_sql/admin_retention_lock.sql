-- Elect one pruner across all workers, batch by batch: a transaction-scoped advisory
-- lock, so it never outlives the batch's transaction (a session lock could be left
-- behind on a pooled server connection when a transaction pooler sits in between).
SELECT pg_try_advisory_xact_lock(hashtextextended('pgqueue.retention', 0))
