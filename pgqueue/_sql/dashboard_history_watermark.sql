-- Up to where finished jobs are rolled up (epoch seconds; 0 before the first rollup).
SELECT coalesce(extract(epoch FROM (SELECT rolled_until FROM pgqueue.history_watermark)), 0)::double precision
