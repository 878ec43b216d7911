-- Run-time and wait-time histograms per bucket (width %(width_s)s, since %(since)s) of one
-- task (or all with NULL), summed slot by slot over its queues, for percentile series.
-- Rows: (t, slot, run count, wait count); slots are 1-based positions of BOUNDS_S + 1.
SELECT extract(epoch FROM h.bucket)::bigint AS t, x.i AS slot,
       sum(x.r)::bigint AS run_n, sum(x.w)::bigint AS wait_n
FROM pgqueue.job_history h
CROSS JOIN LATERAL unnest(h.run_hist, h.wait_hist) WITH ORDINALITY AS x(r, w, i)
WHERE h.width_s = %(width_s)s
  AND h.bucket >= %(since)s
  AND (%(task)s::text IS NULL OR h.task = %(task)s::text)
GROUP BY h.bucket, x.i
ORDER BY h.bucket, x.i
