-- The enqueue succeeded: keep its rows as part of the caller's transaction.
RELEASE SAVEPOINT pgqueue_enqueue
