-- After a retry: per retried job with dependents, how many of them wait for it again
-- (pgqueue.rearm_dependents re-armed them in this transaction), for the log line.
SELECT d.depends_on, count(*) AS waiting
FROM pgqueue.job_dependencies AS d
JOIN pgqueue.jobs AS j ON j.id = d.job_id
WHERE d.depends_on = ANY (%(ids)s::bigint[])
  AND j.state = 'waiting'
GROUP BY d.depends_on
