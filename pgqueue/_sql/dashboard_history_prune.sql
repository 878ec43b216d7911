-- Keep the history bounded: minute rows and depth samples for %(minutes_s)s, hour rows
-- for %(hours_s)s. Primary-key range deletes (width_s, bucket leads the key).
WITH m AS (
    DELETE FROM pgqueue.job_history
    WHERE (width_s = 60 AND bucket < now() - make_interval(secs => %(minutes_s)s))
       OR (width_s = 3600 AND bucket < now() - make_interval(secs => %(hours_s)s))
    RETURNING 1
), d AS (
    DELETE FROM pgqueue.queue_history
    WHERE bucket < now() - make_interval(secs => %(minutes_s)s)
    RETURNING 1
)
SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM d)
