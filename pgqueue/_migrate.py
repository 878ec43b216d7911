"""Running pgqueue's Alembic migrations from a checkout or an installed wheel."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from ._revision import head, migrations_dir
from ._settings import SCHEMA

VERSION_TABLE = "alembic_version"
__all__ = ["current", "head", "migrations_dir", "sql", "upgrade"]


def _config(output: io.StringIO | None = None) -> Config:
    cfg = Config(output_buffer=output) if output is not None else Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


@contextmanager
def _connection(dsn: str) -> Iterator[Connection]:
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def current(dsn: str) -> str | None:
    """The revision the database is at, or None when pgqueue was never installed."""
    with _connection(dsn) as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": SCHEMA}
        )
        return ctx.get_current_revision()


def upgrade(dsn: str, to: str = "head") -> None:
    """Move the schema to revision ``to`` (up or down; ``base`` removes everything)."""
    cfg = _config()
    with _connection(dsn) as conn:
        cfg.attributes["connection"] = conn
        now = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": SCHEMA}
        ).get_current_revision()
        script = ScriptDirectory.from_config(cfg)
        if to == "base" or (now is not None and _is_ancestor(script, to, now)):
            command.downgrade(cfg, to)
        else:
            command.upgrade(cfg, to)
        if to == "base":
            _drop_leftovers(conn)


def _is_ancestor(script: ScriptDirectory, target: str, now: str) -> bool:
    """Whether ``target`` lies below ``now`` (so reaching it means downgrading)."""
    if target in ("head", "heads") or target == now:
        return False
    resolved = script.get_revision(target)
    if resolved is None:
        return False
    return any(rev.revision == resolved.revision for rev in script.walk_revisions("base", now))


def _drop_leftovers(conn: Connection) -> None:
    # At base no revision owns anything; remove the version table and the (now empty)
    # schema so "migrate --to base" leaves nothing behind.
    conn.execute(text(f"DROP TABLE IF EXISTS {SCHEMA}.{VERSION_TABLE}"))
    conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} RESTRICT"))
    conn.commit()


def sql(to: str = "head", start: str | None = None) -> str:
    """The SQL that upgrades from ``start`` (default: nothing) to ``to``, for a DBA."""
    out = io.StringIO()
    cfg = _config(out)
    command.upgrade(cfg, f"{start}:{to}" if start else to, sql=True)
    return out.getvalue()
