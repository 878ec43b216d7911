-- pgqueue bench, backlog growth: how many jobs of the queue finished since %(since)s (at
-- most %(n)s are counted), and the seconds from the first start to the %(n)s-th finish.
-- Walks jobs_finished_idx (state, finished_at) from %(since)s, never the backlog.
SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at))::float8
FROM (SELECT started_at, finished_at
      FROM pgqueue.jobs
      WHERE state = 'succeeded' AND finished_at IS NOT NULL AND finished_at >= %(since)s
        AND queue = %(queue)s
      ORDER BY finished_at
      LIMIT %(n)s) AS first
