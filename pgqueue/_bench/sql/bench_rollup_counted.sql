-- pgqueue bench: the finished jobs the history holds for the minute starting %(start)s.
SELECT coalesce(sum(succeeded + dead + cancelled), 0) FROM pgqueue.job_history
WHERE width_s = 60 AND bucket = %(start)s::timestamptz
