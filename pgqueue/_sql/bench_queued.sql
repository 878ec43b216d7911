-- pgqueue bench: queued jobs of the queue, counted through the partial claim index.
SELECT count(*) FROM pgqueue.jobs WHERE state = 'queued' AND queue = %(queue)s
