-- pgqueue bench, idle scenario: commits and client backends of database %(db)s, read from
-- another database so the reading itself is not counted.
SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = %(db)s),
       (SELECT count(*) FROM pg_stat_activity
         WHERE datname = %(db)s AND backend_type = 'client backend')
