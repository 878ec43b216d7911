-- The stored trace context of just-claimed jobs, for the worker's attempt spans.
-- Run only while OpenTelemetry tracing is on, once per claimed batch: kept out of the
-- claim itself so the claim's rows stay as narrow as ever when tracing is off.
-- Primary-key lookups; rows without a context are not returned.
SELECT id, trace
FROM pgqueue.jobs
WHERE id = ANY(%(ids)s::bigint[]) AND trace IS NOT NULL
