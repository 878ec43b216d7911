-- pgqueue bench: %(n)s finished (succeeded) jobs, as a long-running system retains them.
-- They sit in the table and its indexes but never in the partial claim index.
INSERT INTO pgqueue.jobs (queue, task, state, attempt, started_at, finished_at, created_at, run_at)
SELECT %(queue)s, 'bench.noop', 'succeeded', 1,
       now() - interval '1 hour', now() - interval '1 hour',
       now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(1, %(n)s)
