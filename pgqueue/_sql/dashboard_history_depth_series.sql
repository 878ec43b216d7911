-- Depth per minute over the last %(window_s)s, summed over queues (or one queue).
SELECT extract(epoch FROM bucket)::bigint AS t,
       sum(queued)::bigint AS queued, sum(running)::bigint AS running,
       sum(scheduled)::bigint AS scheduled, sum(waiting)::bigint AS waiting
FROM pgqueue.queue_history
WHERE bucket >= now() - make_interval(secs => %(window_s)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
GROUP BY bucket
ORDER BY bucket
