-- What holds back the xmin horizon of this database (and so vacuum of pgqueue.jobs):
-- the oldest open transaction or snapshot among this database's sessions and the
-- walsenders (hot_standby_feedback), replication slots, and prepared transactions.
-- Other databases' sessions are ignored: they do not pin this database's tables.
SELECT 'session' AS kind, pid::text AS who, usename::text AS usr, application_name AS app,
       state, extract(epoch FROM now() - xact_start)::double precision AS age_s,
       age(backend_xmin)::bigint AS xid_age, left(query, 120) AS detail
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
  AND ((datname = current_database() AND backend_type = 'client backend'
        AND xact_start IS NOT NULL)
       OR backend_type = 'walsender')
  AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
UNION ALL
SELECT 'replication slot', slot_name::text, NULL, NULL, CASE WHEN active THEN 'active' ELSE 'inactive' END,
       NULL, greatest(age(xmin), age(catalog_xmin))::bigint, slot_type
FROM pg_replication_slots
WHERE (database IS NULL OR database = current_database())
  AND (xmin IS NOT NULL OR catalog_xmin IS NOT NULL)
UNION ALL
SELECT 'prepared transaction', gid, owner::text, NULL, NULL,
       extract(epoch FROM now() - prepared)::double precision, age(transaction)::bigint, NULL
FROM pg_prepared_xacts
WHERE database = current_database()
ORDER BY age_s DESC NULLS LAST, xid_age DESC NULLS LAST
LIMIT 5
