-- Delete one batch of finished jobs older than the cutoff, oldest first through
-- jobs_finished_idx. Small batches keep each transaction (and its WAL and locks) short;
-- SKIP LOCKED steps around rows someone is touching instead of waiting for them.
DELETE FROM pgqueue.jobs
WHERE id IN (
    SELECT id FROM pgqueue.jobs
    WHERE state = %(state)s AND finished_at IS NOT NULL AND finished_at < %(cutoff)s
    ORDER BY finished_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
