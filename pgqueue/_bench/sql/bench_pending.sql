-- pgqueue bench: true while any job of the queue is not finished yet. Probes the partial
-- claim and lease indexes (never a count over the whole table), so polling it is cheap.
SELECT EXISTS (SELECT 1 FROM pgqueue.jobs WHERE state = 'queued' AND queue = %(queue)s)
    OR EXISTS (SELECT 1 FROM pgqueue.jobs WHERE state = 'running')
