-- pgqueue bench, search scenario: %(n)s finished jobs shaped like a real mix, for the
-- dashboard's search. g %% 3 picks the task:
--   0 emails.send_welcome  kwargs {"user_id", "email", "locale"}  (100,000 users: ~3 jobs each at 1M)
--   1 orders.charge        args [order id, currency, amount cents] (EUR/USD/GBP/JPY)
--   2 reports.build        kwargs {"report", "day"}
-- One job in 20 ended dead with an error (four kinds, one naming its order id); one in 20
-- more succeeded on a second attempt after a timeout (last_error kept). Newest ids are
-- the most recently finished, spread over the last 14 days.
INSERT INTO pgqueue.jobs (queue, task, args, kwargs, state, attempt, max_attempts, last_error,
                          created_at, run_at, started_at, finished_at)
SELECT CASE g %% 3 WHEN 0 THEN 'emails' WHEN 1 THEN 'orders' ELSE 'reports' END,
       CASE g %% 3 WHEN 0 THEN 'emails.send_welcome' WHEN 1 THEN 'orders.charge' ELSE 'reports.build' END,
       CASE g %% 3 WHEN 1
            THEN jsonb_build_array(g, (ARRAY['EUR', 'USD', 'GBP', 'JPY'])[1 + (g / 3) %% 4], (g * 7919) %% 100000)
            ELSE '[]'::jsonb END,
       CASE g %% 3
            WHEN 0 THEN jsonb_build_object('user_id', (g * 7919) %% 100000,
                                           'email', 'user' || (g * 7919) %% 100000 || '@example.com',
                                           'locale', (ARRAY['en', 'de', 'fr'])[1 + (g / 3) %% 3])
            WHEN 2 THEN jsonb_build_object('report', (ARRAY['daily', 'weekly', 'monthly'])[1 + (g / 3) %% 3],
                                           'day', (date '2026-01-01' + ((g / 3) %% 365)::int)::text)
            ELSE '{}'::jsonb END,
       CASE WHEN g %% 20 = 0 THEN 'dead' ELSE 'succeeded' END,
       CASE WHEN g %% 20 = 0 THEN 3 WHEN g %% 20 = 10 THEN 2 ELSE 1 END,
       3,
       CASE WHEN g %% 20 = 0 THEN
                CASE (g / 20) %% 4
                    WHEN 0 THEN 'TimeoutError: upstream api.example.com timed out after 30.0 s'
                    WHEN 1 THEN 'CardDeclined: card ending ' || lpad((g %% 10000)::text, 4, '0')
                                || ' declined for order ' || g
                    WHEN 2 THEN 'KeyError: ''customer_' || g %% 5000 || ''''
                    ELSE 'ConnectionResetError: [Errno 104] Connection reset by peer' END
            WHEN g %% 20 = 10 THEN 'TimeoutError: upstream api.example.com timed out after 30.0 s'
       END,
       t, t, t, t + interval '20 milliseconds'
FROM generate_series(1, %(n)s::bigint) AS g,
     LATERAL (SELECT now() - interval '14 days' * (1 - g::float8 / %(n)s) - interval '1 minute' AS t) AS at
