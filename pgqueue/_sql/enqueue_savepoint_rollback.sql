-- The enqueue failed part-way: undo its rows, leave the caller's transaction usable.
ROLLBACK TO SAVEPOINT pgqueue_enqueue
