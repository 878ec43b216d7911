-- pgqueue bench: jobs finished per whole second since %(since)s (held-xmin curve).
SELECT floor(extract(epoch FROM finished_at - %(since)s::timestamptz))::int AS s, count(*)
FROM pgqueue.jobs
WHERE queue = %(queue)s AND finished_at >= %(since)s
GROUP BY 1
ORDER BY 1
