-- pgqueue.queue_stats with ages as seconds (JSON-friendly), one row per queue.
SELECT queue, queued, scheduled, waiting, running, succeeded, dead, cancelled,
       extract(epoch FROM oldest_queued_age)::double precision AS oldest_queued_age_s,
       paused, concurrency_limit, rate_limit, rate_period_s, succeeded_estimated
FROM pgqueue.queue_stats
ORDER BY queue
