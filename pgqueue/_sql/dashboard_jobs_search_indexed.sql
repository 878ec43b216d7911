-- The dashboard's search, second pass: below the first pass's window (id < %(before)s),
-- only what an index serves, over every finished job:
--   id = %(q_id)s                                primary key
--   (args || kwargs) @> %(contains_keyed)s       jobs_args_tokens_idx (migration 0012: GIN
--                                                over pgqueue.search_tokens(args || kwargs),
--                                                finished rows with arguments; its predicate
--                                                is repeated so the planner can use it):
--                                                every token of the query's
--                                                values, then the containment rechecked
--   (args || kwargs) @? %(value_path)s           the same index: any token of the value's
--                                                forms (%(value_forms)s), then the jsonpath
--                                                ('$.** ? (@ == 42)') rechecked
--   last_error ILIKE %(error_like)s              jobs_error_search_idx (pg_trgm; NULL when
--                                                the index is missing or the text too short)
-- A token is one of 65,536 hash buckets, so the index answers a superset; the real test,
-- written first so a row rechecked on the heap computes its tokens only when it matches,
-- keeps only real matches. NULL parameters fold their branch away at planning.
-- The hits are MATERIALIZED without an ORDER BY: given "ORDER BY id DESC LIMIT n" the
-- planner would walk the primary key backwards hoping to meet n matches soon (it guesses
-- 1 percent of rows for a containment test) and read the whole table for a rare value. Here
-- it can only BitmapOr the indexes; the newest n hits are then sorted in memory.
WITH hits AS MATERIALIZED (
    SELECT id FROM pgqueue.jobs
    WHERE id < %(before)s::bigint
      AND (id = %(q_id)s::bigint
           OR (finished_at IS NOT NULL AND (args <> '[]'::jsonb OR kwargs <> '{}'::jsonb)
               AND (args || kwargs) @> %(contains_keyed)s::jsonb
               AND pgqueue.search_tokens(args || kwargs)
                   @> pgqueue.search_tokens(%(contains_keyed)s::jsonb))
           OR (finished_at IS NOT NULL AND (args <> '[]'::jsonb OR kwargs <> '{}'::jsonb)
               AND (args || kwargs) @? %(value_path)s::jsonpath
               AND pgqueue.search_tokens(args || kwargs)
                   && pgqueue.search_tokens(%(value_forms)s::jsonb))
           OR (last_error IS NOT NULL AND last_error ILIKE %(error_like)s::text))
      AND (%(state)s::text IS NULL OR state = %(state)s::text)
      AND (%(scheduled)s::boolean IS NULL OR (run_at > now()) = %(scheduled)s::boolean)
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND (%(task)s::text IS NULL OR task = %(task)s::text)
)
SELECT id, queue, task, state, (state = 'queued' AND run_at > now()) AS scheduled,
       attempt, max_attempts, priority, tags,
       run_at, created_at, started_at, finished_at,
       left(last_error, 200) AS last_error, progress
FROM pgqueue.jobs
WHERE id IN (SELECT id FROM hits ORDER BY id DESC LIMIT %(limit)s)
ORDER BY id DESC
