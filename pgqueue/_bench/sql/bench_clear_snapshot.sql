-- pgqueue bench: forget the cached statistics snapshot so the next read is fresh.
SELECT pg_stat_clear_snapshot()
