-- pgqueue bench: the hardware-independent counters, read before and after a scenario.
-- xact_commit is per database (pg_stat_database; call pg_stat_clear_snapshot() first so a
-- transaction sees fresh figures); the WAL position is cluster-wide, so other databases'
-- writes on a shared server inflate the WAL delta.
SELECT d.xact_commit, pg_current_wal_lsn()::text
FROM pg_stat_database AS d
WHERE d.datname = current_database()
