-- Cancel jobs that are not running yet: they end at once. A job a worker is claiming
-- right now is row-locked; this waits for that claim, re-checks the state and leaves
-- the (now running) job to admin_cancel_running.sql in the same transaction.
UPDATE pgqueue.jobs
SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL,
    last_error = coalesce(last_error, 'cancelled by an operator')
WHERE id = ANY(%(ids)s) AND state IN ('queued', 'waiting')
RETURNING id
