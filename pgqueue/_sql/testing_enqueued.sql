-- pgqueue.testing.assert_enqueued: the queued (or scheduled) jobs of one task, oldest first.
SELECT id, args, kwargs, queue
FROM pgqueue.jobs
WHERE task = %(task)s AND state = 'queued'
ORDER BY id
