-- pgqueue bench: make pg_stat_statements queryable in the scratch database (fails when the
-- library is not preloaded; the bench then reports statements per job as n/a).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements
