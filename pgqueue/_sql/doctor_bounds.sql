-- Rows the maintenance duties should have removed long ago (each capped at 10,001 rows, so
-- the check stays cheap however far behind a duty is): tick slots past their retention
-- (each schedule's newest is kept), worker rows expired long ago, finished jobs past their
-- retention per state. Any count above zero means that duty runs nowhere (or fails), and
-- its table grows without bound. Ticks and jobs are read by index (schedule_ticks' primary
-- key per schedule; jobs_finished_idx (state, finished_at)).
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM pgqueue.schedule_ticks AS t
        WHERE t.fired_at < now() - make_interval(secs => %(ticks_s)s::float8)
          AND t.fire_at < (SELECT max(n.fire_at) FROM pgqueue.schedule_ticks AS n
                           WHERE n.schedule = t.schedule)
        LIMIT 10001) AS s) AS ticks,
    (SELECT count(*) FROM (
        SELECT 1 FROM pgqueue.workers AS w
        WHERE w.expires_at < now() - make_interval(secs => %(workers_s)s::float8)
        LIMIT 10001) AS s) AS workers,
    (SELECT count(*) FROM (
        SELECT 1 FROM pgqueue.jobs AS j
        WHERE j.state = 'succeeded' AND j.finished_at IS NOT NULL
          AND j.finished_at < now() - make_interval(secs => %(succeeded_s)s::float8)
        LIMIT 10001) AS s) AS succeeded,
    (SELECT count(*) FROM (
        SELECT 1 FROM pgqueue.jobs AS j
        WHERE j.state = 'cancelled' AND j.finished_at IS NOT NULL
          AND j.finished_at < now() - make_interval(secs => %(cancelled_s)s::float8)
        LIMIT 10001) AS s) AS cancelled,
    (SELECT count(*) FROM (
        SELECT 1 FROM pgqueue.jobs AS j
        WHERE j.state = 'dead' AND j.finished_at IS NOT NULL
          AND j.finished_at < now() - make_interval(secs => %(dead_s)s::float8)
        LIMIT 10001) AS s) AS dead
