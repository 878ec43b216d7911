-- Wake idle workers for these queues (the insert trigger only fires on INSERT, and a
-- requeue or resume is an UPDATE). Sent inside the caller's transaction, so a rollback
-- wakes no one; one notification per queue.
SELECT pg_notify(%(channel)s, q) FROM unnest(%(queues)s::text[]) AS q
