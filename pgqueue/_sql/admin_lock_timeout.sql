-- Maintenance waits at most this long for a table lock (a migration, a manual VACUUM
-- FULL) and then gives up this round instead of queueing live workers behind it.
SELECT set_config('lock_timeout', %(timeout)s, true)
