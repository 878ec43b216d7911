-- Batched, fenced completion of a batch that holds anything but successes: every outcome
-- kind in one statement, a target state per row. Succeeded rows store their result;
-- dead and cancelled rows end (finished_at) with the attempt's error appended to errors and
-- kept in last_error; requeued rows ('queued': retries with their error appended and run_at
-- pushed by the back-off, snoozes and shutdown hand-backs with the attempt refunded, a
-- NULL delay keeping run_at so a hand-back keeps its place in claim order) drop their
-- worker_id. The fence is the one of complete_success.sql: a row changes only while it is
-- still this worker's running attempt, so a worker that lost the job changes nothing.
-- One statement rather than one per kind in a pipelined transaction: one plan, one
-- autocommit round trip, no BEGIN/COMMIT, less client work (docs/benchmarks.md, "Retries").
-- Parameters go in binary (%%(x)b): the text arrays of JSON tracebacks then need no
-- array-literal quoting, which was a third of the completer's CPU for such a batch.
-- All-success batches keep the narrower complete_success.sql, which measured cheaper.
-- Requeued jobs that are due at once wake idle workers (one NOTIFY per queue, folded at
-- commit): the worker that requeued them claims again only on a wake-up or its poll. The
-- scalar subquery forces the otherwise unreferenced CTE to run.
-- Plan (the probe shape, pgqueue/_sql/__init__.py): one primary-key probe per array
-- element, whatever the statistics say; the whole fence is one join filter.
WITH done AS (
    UPDATE pgqueue.jobs AS j
    SET state = u.state,
        attempt = j.attempt - u.refund,
        run_at = CASE WHEN u.delay_s IS NULL THEN j.run_at
                      ELSE now() + make_interval(secs => u.delay_s) END,
        result = CASE WHEN u.state = 'succeeded' THEN u.result::jsonb ELSE j.result END,
        finished_at = CASE WHEN u.state = 'queued' THEN j.finished_at ELSE now() END,
        errors = CASE WHEN u.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(u.error::jsonb) END,
        last_error = coalesce(u.last_error, j.last_error),
        worker_id = CASE WHEN u.state = 'queued' THEN NULL ELSE j.worker_id END,
        lease_expires_at = NULL
    FROM unnest(%(ids)b::bigint[], %(attempts)b::int[], %(states)b::text[], %(results)b::text[],
                %(delays)b::float8[], %(refunds)b::int[], %(errors)b::text[],
                %(last_errors)b::text[])
         AS u(id, attempt, state, result, delay_s, refund, error, last_error)
    WHERE j.id = ANY (ARRAY[u.id])
      AND ((j.id, j.attempt, j.worker_id, j.state) = (u.id, u.attempt, %(worker)b, 'running')) IS TRUE
    RETURNING j.id, j.queue, j.state, j.run_at
), woken AS (
    SELECT pg_notify(/*NOTIFY_CHANNEL*/, q.queue)
    FROM (SELECT DISTINCT queue FROM done WHERE state = 'queued' AND run_at <= now()) AS q
)
SELECT id, (SELECT count(*) FROM woken) AS woken FROM done
