"""Alembic environment for pgqueue's own schema.

pgqueue keeps its version table in ``pgqueue.alembic_version`` so that an
application's own Alembic history (``public.alembic_version``) is never touched.
The schema is created first, because Alembic writes the version table before the
first revision runs. ``lock_timeout`` keeps a migration from queueing behind
live workers for long: it fails fast and can be retried.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from pgqueue.schema import metadata

SCHEMA = "pgqueue"
VERSION_TABLE = "alembic_version"
LOCK_TIMEOUT = "5s"

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Autogenerate compares only pgqueue's own schema.
    if type_ == "schema":
        return name == SCHEMA
    return True


def run_offline() -> None:
    context.configure(
        url="postgresql+psycopg://",
        literal_binds=True,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA,
        transactional_ddl=True,
        target_metadata=metadata,
    )
    with context.begin_transaction():
        context.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("pgqueue migrations need a connection passed in config.attributes")
    connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    connection.commit()
    context.configure(
        connection=connection,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA,
        transactional_ddl=True,
        target_metadata=metadata,
        include_schemas=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
