-- Tick slots are only needed while a duplicate could still race for them.
DELETE FROM pgqueue.schedule_ticks WHERE fired_at < now() - make_interval(secs => %(keep_s)s)
