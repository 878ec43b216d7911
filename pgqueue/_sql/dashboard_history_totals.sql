-- Finished jobs per bucket of width %(width_s)s since %(since)s, summed over queues and
-- tasks (or one queue / one task when given): the overview's throughput and failure-rate
-- charts. Primary-key range scan (width_s, bucket, ...). Buckets the rollup has not fully
-- covered yet (ending after the watermark) are left out: drawn, they would look like a drop.
SELECT extract(epoch FROM bucket)::bigint AS t,
       sum(succeeded)::bigint AS succeeded, sum(dead)::bigint AS dead,
       sum(cancelled)::bigint AS cancelled, sum(failed_attempts)::bigint AS failed_attempts,
       sum(run_s_sum) AS run_s_sum, sum(wait_s_sum) AS wait_s_sum
FROM pgqueue.job_history
WHERE width_s = %(width_s)s
  AND bucket >= %(since)s
  AND bucket + make_interval(secs => %(width_s)s)
      <= coalesce((SELECT rolled_until FROM pgqueue.history_watermark), '-infinity')
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
GROUP BY bucket
ORDER BY bucket
