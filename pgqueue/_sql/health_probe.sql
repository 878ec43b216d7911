-- `pgqueue health`: one round trip that says whether this is a writable primary and
-- whether pgqueue was ever installed. set_config(..., true) is transaction-local on
-- purpose: behind a transaction pooler a session-level SET would leak into the next
-- client's server connection. to_regclass avoids an error (and an aborted transaction)
-- when the version table does not exist yet.
SELECT set_config('statement_timeout', %(timeout_ms)s, true) AS statement_timeout,
       pg_is_in_recovery() AS in_recovery,
       current_setting('server_version') AS server_version,
       to_regclass('pgqueue.alembic_version') IS NOT NULL AS installed
