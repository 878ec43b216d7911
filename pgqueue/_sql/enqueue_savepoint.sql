-- Opens a savepoint in the caller's transaction (psycopg begins that transaction first
-- when it is idle) so a multi-statement enqueue either lands whole or is undone
-- without aborting the caller's transaction and without pgqueue ever committing it.
SAVEPOINT pgqueue_enqueue
