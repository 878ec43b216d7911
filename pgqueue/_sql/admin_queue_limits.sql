-- Set or clear a queue's global limits. Each `set_*` flag says whether that limit is
-- being changed, so one statement can change one limit and keep the other.
INSERT INTO pgqueue.queues AS q (name, concurrency_limit, rate_limit, rate_period_s)
VALUES (%(name)s, %(concurrency)s, %(rate)s, %(period)s)
ON CONFLICT (name) DO UPDATE SET
    concurrency_limit = CASE WHEN %(set_concurrency)s THEN excluded.concurrency_limit
                             ELSE q.concurrency_limit END,
    rate_limit        = CASE WHEN %(set_rate)s THEN excluded.rate_limit ELSE q.rate_limit END,
    rate_period_s     = CASE WHEN %(set_rate)s THEN excluded.rate_period_s
                             ELSE q.rate_period_s END,
    updated_at = now()
RETURNING name, paused, concurrency_limit, rate_limit, rate_period_s
