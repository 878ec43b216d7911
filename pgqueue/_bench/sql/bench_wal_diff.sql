-- pgqueue bench: bytes of WAL between two positions taken by bench_counters.sql.
SELECT pg_wal_lsn_diff(%(after)s::pg_lsn, %(before)s::pg_lsn)::float8
