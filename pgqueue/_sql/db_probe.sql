-- First use of an App's pool: is this a writable primary, and was pgqueue ever installed?
-- to_regclass avoids an error (and a useless traceback) when the schema does not exist;
-- the revision itself is read by db_revision.sql only when it does.
SELECT pg_is_in_recovery() AS in_recovery,
       current_database() AS dbname,
       to_regclass('pgqueue.alembic_version') IS NOT NULL AS installed
