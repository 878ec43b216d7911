-- pgqueue bench: jobs finished per whole second since %(since)s (held-xmin curve), from
-- second %(from_s)s on. Through jobs_finished_idx (state, finished_at), so a poll for the
-- last few seconds reads those seconds only, not every job finished since the start.
SELECT floor(extract(epoch FROM finished_at - %(since)s::timestamptz))::int AS s, count(*)
FROM pgqueue.jobs
WHERE state IN ('succeeded', 'dead', 'cancelled')
  AND finished_at >= %(since)s::timestamptz + make_interval(secs => %(from_s)s)
  AND queue = %(queue)s
GROUP BY 1
ORDER BY 1
