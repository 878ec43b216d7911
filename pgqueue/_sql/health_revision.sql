-- `pgqueue health`: the Alembic revision the pgqueue schema is at (no row: never migrated).
SELECT version_num FROM pgqueue.alembic_version
