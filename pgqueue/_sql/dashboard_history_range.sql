-- The next range of finished jobs to roll up: from the watermark (or %(backfill_s)s ago on
-- the first run) to the last whole minute that ended %(grace_s)s ago (a completion commits
-- a little after the finished_at it wrote), at most %(max_s)s long so one tick stays small.
-- FOR UPDATE: the watermark row is this transaction's until it commits.
WITH mark AS (
    SELECT rolled_until FROM pgqueue.history_watermark WHERE id FOR UPDATE
), bounds AS (
    SELECT coalesce((SELECT rolled_until FROM mark),
                    date_bin('1 minute', now() - make_interval(secs => %(backfill_s)s),
                             'epoch'::timestamptz)) AS start,
           date_bin('1 minute', now() - make_interval(secs => %(grace_s)s),
                    'epoch'::timestamptz) AS cutoff
)
SELECT start, least(cutoff, start + make_interval(secs => %(max_s)s)) AS stop
FROM bounds
