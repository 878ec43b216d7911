"""An application's own Alembic next to pgqueue's: with ``include_schemas=True`` and the
filters from :mod:`pgqueue.alembic`, autogenerate proposes nothing for the ``pgqueue``
schema (tables, version table), also when the app's metadata includes pgqueue's tables and
its own table has a foreign key to ``pgqueue.jobs``. Without them it would (the control)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from pgqueue import _migrate

ENV_PY = '''
import psycopg
from alembic import context
from sqlalchemy import BigInteger, Column, ForeignKey, MetaData, Table, Text, create_engine

from pgqueue.alembic import include_name, include_object
from pgqueue.schema import metadata as pgqueue_metadata

target_metadata = MetaData()
Table("signups", target_metadata, Column("id", BigInteger, primary_key=True), Column("email", Text))
Table(
    "welcome_mails", target_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", BigInteger, ForeignKey("pgqueue.jobs.id")),
)
for table in pgqueue_metadata.tables.values():  # the app references pgqueue.jobs
    table.to_metadata(target_metadata)

FILTERS = {{"include_name": include_name, "include_object": include_object}} if {filtered} else {{}}

dsn = context.config.get_main_option("dsn")
engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
with engine.connect() as connection:
    context.configure(
        connection=connection, target_metadata=target_metadata, include_schemas=True, **FILTERS
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
'''

SCRIPT_MAKO = '''"""${message}"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
'''


def _user_alembic(tmp_path: Path, dsn: str, *, filtered: bool) -> Config:
    home = tmp_path / ("with_filters" if filtered else "without")
    (home / "versions").mkdir(parents=True)
    (home / "env.py").write_text(textwrap.dedent(ENV_PY.format(filtered=filtered)))
    (home / "script.py.mako").write_text(SCRIPT_MAKO)
    cfg = Config()
    cfg.set_main_option("script_location", str(home))
    cfg.set_main_option("dsn", dsn)
    return cfg


def _operations(cfg: Config, message: str) -> list[str]:
    """The lines of the upgrade() that ``alembic revision --autogenerate`` writes."""
    script = command.revision(cfg, message=message, autogenerate=True)
    assert script is not None and not isinstance(script, list)
    body = Path(script.path).read_text()
    upgrade = body.split("def upgrade()")[1].split("def downgrade()")[0]
    lines = [line.strip() for line in upgrade.splitlines()[1:]]
    return [line for line in lines if line and not line.startswith("#") and line != "pass"]


def test_autogenerate_leaves_pgqueue_alone(dsn: str, tmp_path: Path) -> None:
    cfg = _user_alembic(tmp_path, dsn, filtered=True)
    first = _operations(cfg, "app tables")
    assert any(op.startswith("op.create_table('signups'") for op in first), first
    assert any(op.startswith("op.create_table('welcome_mails'") for op in first), first
    # pgqueue appears only as the target of the app's own foreign key
    assert [op for op in first if "pgqueue" in op] == [
        "sa.ForeignKeyConstraint(['job_id'], ['pgqueue.jobs.id'], ),"
    ], first
    command.upgrade(cfg, "head")

    assert _operations(cfg, "nothing to do") == []  # pgqueue.* and both version tables untouched
    with psycopg.connect(dsn) as conn:
        versions = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'"
            " ORDER BY 1"
        ).fetchall()
    assert versions == [("pgqueue",), ("public",)]
    assert _migrate.current(dsn) == _migrate.head()


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # reflecting pgqueue's indexes
def test_without_the_filters_autogenerate_would_touch_pgqueue(dsn: str, tmp_path: Path) -> None:
    ops = _operations(_user_alembic(tmp_path, dsn, filtered=False), "unfiltered")
    assert any("alembic_version" in op and "schema='pgqueue'" in op for op in ops), ops


@pytest.mark.parametrize(
    ("name", "type_", "parents", "expected"),
    [
        ("pgqueue", "schema", {}, False),
        (None, "schema", {}, True),
        ("billing", "schema", {}, True),
        ("alembic_version", "table", {"schema_name": "pgqueue"}, False),
        ("jobs", "table", {"schema_name": None}, True),
    ],
)
def test_include_name(name: str | None, type_: str, parents: dict[str, str | None], expected: bool) -> None:
    from pgqueue.alembic import include_name

    assert include_name(name, type_, parents) is expected
