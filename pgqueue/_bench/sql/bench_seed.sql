-- pgqueue bench: %(n)s queued jobs of one task in one server-side statement, so seeding
-- costs the client nothing and every job is due at once. The statement-level trigger
-- sends one NOTIFY at commit.
INSERT INTO pgqueue.jobs (queue, task, max_attempts)
SELECT %(queue)s, %(task)s, %(max_attempts)s
FROM generate_series(1, %(n)s)
