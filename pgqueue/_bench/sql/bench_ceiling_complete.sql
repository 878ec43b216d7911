-- pgqueue bench, ceiling scenario: the bare batched completion (one statement per batch,
-- unnest of arrays) with the same fence and plan-stable probe as complete_success.sql.
UPDATE pgqueue.jobs AS j
SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS u(id, attempt)
WHERE j.id = ANY (ARRAY[u.id])
  AND ((j.id, j.attempt, j.worker_id, j.state) = (u.id, u.attempt, %(worker)s, 'running')) IS TRUE
