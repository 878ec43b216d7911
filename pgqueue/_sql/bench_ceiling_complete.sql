-- pgqueue bench, ceiling scenario: the bare batched completion (one statement per batch,
-- unnest of arrays) with the same fence as complete_success.sql.
UPDATE pgqueue.jobs AS j
SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS u(id, attempt)
WHERE j.id = u.id AND j.attempt = u.attempt AND j.worker_id = %(worker)s AND j.state = 'running'
