-- Jobs with unique keys (one or many): each either inserts or yields the live job that
-- already holds its key. The partial unique index jobs_unique_key_idx (non-terminal
-- states only) arbitrates, so concurrent enqueuers cannot both win; no advisory locks.
-- ORDER BY keeps the items' order, so among duplicates within one call the first wins.
--
-- The second half looks the holders up. It reads this statement's snapshot, so it
-- misses a holder committed by another transaction after the statement began (ON
-- CONFLICT waited for it, the snapshot predates it), and it cannot see rows inserted
-- by `ins` itself. The caller maps keys to ids from both halves and simply runs the
-- statement again for keys that got neither (a fresh snapshot sees the holder, or
-- the holder finished meanwhile and the insert now succeeds).
WITH ins AS (
    INSERT INTO pgqueue.jobs (queue, task, args, kwargs, priority, max_attempts, run_at,
                              tags, unique_key, serial_key, trace, expires_at)
    SELECT %(queue)s, %(task)s, u.args::jsonb, u.kwargs::jsonb, %(priority)s::smallint,
           %(max_attempts)s::integer,
           coalesce(%(run_at)s::timestamptz,
                    statement_timestamp() + make_interval(secs => %(delay)s::float8),
                    now()),
           %(tags)s::text[], u.unique_key, %(serial_key)s::text, %(trace)s::jsonb,
           coalesce(%(expires_at)s::timestamptz,
                    statement_timestamp() + make_interval(secs => %(expires_in)s::float8))
    FROM unnest(%(args)s::text[], %(kwargs)s::text[], %(unique_keys)s::text[])
         WITH ORDINALITY AS u(args, kwargs, unique_key, ord)
    ORDER BY u.ord
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
                               AND state IN ('waiting', 'queued', 'running')
    DO NOTHING
    RETURNING id, unique_key
)
SELECT id, unique_key FROM ins
UNION ALL
SELECT j.id, j.unique_key
FROM pgqueue.jobs j
WHERE j.unique_key = ANY(%(unique_keys)s::text[])
  AND j.state IN ('waiting', 'queued', 'running')
  AND NOT EXISTS (SELECT FROM ins WHERE ins.unique_key = j.unique_key)
