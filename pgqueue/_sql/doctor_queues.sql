-- Per queue: backlog, paused flag, oldest due job, and whether any live worker serves it.
SELECT s.queue, s.queued, s.paused,
       extract(epoch FROM s.oldest_queued_age)::double precision AS oldest_queued_age_s,
       EXISTS (SELECT 1 FROM pgqueue.workers w
               WHERE w.expires_at >= now() AND s.queue = ANY(w.queues)) AS served
FROM pgqueue.queue_stats s
WHERE s.queued > 0
ORDER BY s.queue
