-- pgqueue bench: statements executed in this database so far (pg_stat_statements must be
-- loaded through shared_preload_libraries; the caller reports n/a when it is not).
SELECT coalesce(sum(calls), 0)::bigint
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
