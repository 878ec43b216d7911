-- Finished jobs per time bucket, queue and state since %(since)s, for the dashboard's
-- throughput chart. Read through jobs_finished_idx (state, finished_at); the caller
-- asks only for the newest buckets on each refresh and keeps older ones in memory,
-- so the cost per refresh follows the jobs finished in the last few seconds.
SELECT extract(epoch FROM date_bin(make_interval(secs => %(bucket_s)s), finished_at,
                                   'epoch'::timestamptz))::bigint AS bucket,
       queue, state, count(*) AS n
FROM pgqueue.jobs
WHERE state IN ('succeeded', 'dead', 'cancelled')
  AND finished_at IS NOT NULL
  AND finished_at >= %(since)s
GROUP BY 1, 2, 3
