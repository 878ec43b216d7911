-- Dead tuples and the last (auto)vacuum of pgqueue.jobs, from the statistics collector.
SELECT n_live_tup, n_dead_tup,
       greatest(last_autovacuum, last_vacuum) AS last_vacuum,
       extract(epoch FROM now() - greatest(last_autovacuum, last_vacuum))::double precision
           AS last_vacuum_age_s,
       pg_relation_size('pgqueue.jobs'::regclass) AS table_bytes
FROM pg_stat_user_tables
WHERE relid = 'pgqueue.jobs'::regclass
