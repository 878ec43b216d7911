"""Alembic owns the schema: up, down to base, round trips, metadata agreement."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from pgqueue import _migrate
from pgqueue.schema import metadata

OBJECTS_SQL = """
SELECT c.relkind::text, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgqueue'
UNION ALL
SELECT 'f', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'pgqueue'
UNION ALL
SELECT 't', t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = 'pgqueue' AND t.typrelid = 0 AND t.typelem = 0
ORDER BY 1, 2
"""


def _objects(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(OBJECTS_SQL).fetchall()


def _schema_exists(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pgqueue'").fetchone() is not None


def _app_alembic(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO public.alembic_version VALUES ('app_rev_42')")


def _app_version(dsn: str) -> list[tuple[str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT version_num FROM public.alembic_version").fetchall()


def test_upgrade_creates_schema_and_base_removes_everything(empty_dsn: str) -> None:
    _app_alembic(empty_dsn)
    assert _migrate.current(empty_dsn) is None

    _migrate.upgrade(empty_dsn)
    assert _migrate.current(empty_dsn) == _migrate.head()
    names = {name for _, name in _objects(empty_dsn)}
    assert {"jobs", "queues", "workers", "schedules", "queue_stats", "alembic_version"} <= names
    assert {"jobs_claim_idx", "notify_jobs"} <= names
    assert _app_version(empty_dsn) == [("app_rev_42",)]

    _migrate.upgrade(empty_dsn, "base")
    assert _objects(empty_dsn) == []
    assert not _schema_exists(empty_dsn)
    assert _app_version(empty_dsn) == [("app_rev_42",)]


def test_round_trip_up_down_up_gives_the_same_schema(empty_dsn: str) -> None:
    _migrate.upgrade(empty_dsn)
    first = _objects(empty_dsn)
    _migrate.upgrade(empty_dsn, "base")
    _migrate.upgrade(empty_dsn)
    assert _objects(empty_dsn) == first


def test_each_revision_downgrades_one_step(empty_dsn: str) -> None:
    from alembic.script import ScriptDirectory

    from pgqueue._migrate import _config

    revisions = [r.revision for r in ScriptDirectory.from_config(_config()).walk_revisions()]
    revisions.reverse()  # base -> head
    for rev in revisions:
        _migrate.upgrade(empty_dsn, rev)
        assert _migrate.current(empty_dsn) == rev
    for i in range(len(revisions) - 1, 0, -1):
        _migrate.upgrade(empty_dsn, revisions[i - 1])
        assert _migrate.current(empty_dsn) == revisions[i - 1]
    _migrate.upgrade(empty_dsn, "base")
    assert _objects(empty_dsn) == []


def test_metadata_matches_migrations(dsn: str) -> None:
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _p: type_ != "schema" or name == "pgqueue",
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    # Alembic's own version table is not part of the user-facing metadata.
    diff = [d for d in diff if "alembic_version" not in repr(d)]
    assert diff == []


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )


def test_cli_migrate_sql_needs_no_connection() -> None:
    result = _cli("migrate", "--sql", env={"PGQUEUE_DSN": "postgresql://nobody@256.0.0.1:1/x"})
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE pgqueue.jobs" in result.stdout
    assert "CREATE TABLE pgqueue.alembic_version" in result.stdout


def test_cli_migrate_up_and_down(empty_dsn: str) -> None:
    up = _cli("--dsn", empty_dsn, "migrate")
    assert up.returncode == 0, up.stderr
    assert _migrate.current(empty_dsn) == _migrate.head()
    down = _cli("migrate", "--to", "base", env={"PGQUEUE_DSN": empty_dsn})
    assert down.returncode == 0, down.stderr
    assert not _schema_exists(empty_dsn)
