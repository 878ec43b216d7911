-- pgqueue bench: statistics of the job table as they are now (no vacuum), as autovacuum's
-- ANALYZE would leave them.
ANALYZE pgqueue.jobs
