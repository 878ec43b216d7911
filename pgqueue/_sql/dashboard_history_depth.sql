-- One depth sample per minute and queue: the newest reading of the minute wins.
INSERT INTO pgqueue.queue_history (bucket, queue, queued, scheduled, running, waiting, dead)
VALUES (date_bin('1 minute', now(), 'epoch'::timestamptz), %(queue)s, %(queued)s, %(scheduled)s,
        %(running)s, %(waiting)s, %(dead)s)
ON CONFLICT (bucket, queue) DO UPDATE
SET queued = EXCLUDED.queued, scheduled = EXCLUDED.scheduled, running = EXCLUDED.running,
    waiting = EXCLUDED.waiting, dead = EXCLUDED.dead
