-- Become a duty's leader for the rest of this transaction, without waiting: the lock is
-- released at commit/rollback, and by the server if the process dies.
SELECT pg_try_advisory_xact_lock(%(lock_key)s)
