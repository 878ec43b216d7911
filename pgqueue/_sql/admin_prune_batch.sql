-- Delete one batch of finished jobs older than the cutoff, oldest first through
-- jobs_finished_idx. Small batches keep each transaction (and its WAL and locks) short;
-- SKIP LOCKED steps around rows someone is touching instead of waiting for them.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per picked row,
-- whatever the statistics say.
DELETE FROM pgqueue.jobs AS j
USING (
    SELECT id FROM pgqueue.jobs
    WHERE state = %(state)s AND finished_at IS NOT NULL AND finished_at < %(cutoff)s
    ORDER BY finished_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE j.id = ANY (ARRAY[picked.id])
