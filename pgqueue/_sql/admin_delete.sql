-- Delete one batch of jobs by id (`pgqueue jobs delete`, `queues purge --delete`).
-- Never a running job (its worker still holds it: cancel it first), never a waiting one,
-- and never an unfinished job some waiting job depends on (that job would wait forever).
-- SKIP LOCKED steps around rows a worker is claiming or completing right now.
DELETE FROM pgqueue.jobs
WHERE id IN (
    SELECT j.id FROM pgqueue.jobs j
    WHERE j.id = ANY(%(ids)s::bigint[])
      AND j.state IN ('queued', 'succeeded', 'dead', 'cancelled')
      AND (j.state <> 'queued' OR NOT EXISTS (
              SELECT 1 FROM pgqueue.job_dependencies d WHERE d.depends_on = j.id))
    FOR UPDATE SKIP LOCKED
)
RETURNING id, queue
