-- One job, one round trip. The arguments arrive as JSON text already checked and
-- encoded by pgqueue, so the cast is the only parsing. run_at: explicit, else the
-- delay counted from this statement (the database's clock, never the client's, so a
-- skewed client cannot make a job wait), else now() like the column default.
-- The statement-level trigger pgqueue.notify_jobs sends the wake-up at commit, unless
-- %(wake)s is 'off': then this transaction's inserts are quiet (pgqueue.wake is
-- transaction-local) and the caller sends the wake-up after the commit (pgqueue._wake).
-- trace: the enqueue span's context while OpenTelemetry tracing is on, else NULL.
-- expires_at: explicit, else %(expires_in)s seconds from this statement (database clock),
-- else NULL (never expires).
-- Returns the id and, for a job inserted for later, its run_at as epoch seconds (a quiet
-- insert owes its queue a wake-up that names that moment: pgqueue._wake).
INSERT INTO pgqueue.jobs (queue, task, args, kwargs, priority, max_attempts, run_at, tags,
                          serial_key, trace, expires_at)
SELECT %(queue)s, %(task)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(priority)s::smallint,
       %(max_attempts)s::integer,
       coalesce(%(run_at)s::timestamptz,
                statement_timestamp() + make_interval(secs => %(delay)s::float8),
                now()),
       %(tags)s::text[], %(serial_key)s::text, %(trace)s::jsonb,
       coalesce(%(expires_at)s::timestamptz,
                statement_timestamp() + make_interval(secs => %(expires_in)s::float8))
FROM (SELECT set_config('pgqueue.wake', %(wake)s::text, true) AS wake) AS hint
WHERE hint.wake IS NOT NULL
RETURNING id, CASE WHEN run_at > statement_timestamp() THEN extract(epoch FROM run_at)::float8 END
          AS run_at_epoch
