-- The limited claim, step 1 of 2 (one transaction): lock the queues rows of the served
-- queues that have a concurrency or rate limit, in name order (every claimer locks in
-- the same order, so they never deadlock). Claims of a limited queue thereby run one at
-- a time across all workers and hosts; unlimited queues never take this lock.
--
-- Why two statements: in READ COMMITTED one statement reads one snapshot, taken before
-- it waited for the lock, so it would not see the jobs the previous lock holder just
-- started. claim_limited.sql runs after this one and reads a fresh snapshot that does.
--
-- set_config in the filter runs before the rows are locked (LockRows sits above the
-- scan): a claim waits at most %(lock_timeout)s for a row an operator's open transaction
-- holds, then fails and is retried, instead of freezing the worker.
-- Returns the names locked (those still limited once the lock is granted).
SELECT p.name
FROM pgqueue.queues AS p
WHERE p.name = ANY (%(queues)s::text[])
  AND (p.concurrency_limit IS NOT NULL OR p.rate_limit IS NOT NULL)
  AND set_config('lock_timeout', %(lock_timeout)s, true) IS NOT NULL
ORDER BY p.name
FOR UPDATE
