-- pgqueue bench: client backends on this database other than the caller. A scenario waits
-- for zero before reading its end counters: a backend flushes its statistics when it exits.
SELECT count(*)
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
