"""Where a database's schema revision stands against this pgqueue's migrations head.

The revisions are read from the migration files' ``revision = "..."`` and
``down_revision = "..."`` lines, without importing Alembic and SQLAlchemy (about a
quarter of a second of CPU at every worker start and CLI command);
tests/migrations/test_revision_scan.py holds the scan to Alembic's own reading.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from ._sql import query

CURRENT, NEWER, BEHIND, MISSING, UNKNOWN = "current", "newer", "behind", "missing", "unknown"

_ASSIGNMENT = re.compile(
    r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)\s*$""", re.M
)


def migrations_dir() -> Path:
    """The revisions: packaged as ``pgqueue/_migrations`` in a wheel, ``migrations/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("pgqueue's migrations folder is missing from this installation")


@cache
def revisions() -> dict[str, str | None]:
    """Each revision this pgqueue ships, mapped to the one it follows (None for the first)."""
    found: dict[str, str | None] = {}
    for path in sorted((migrations_dir() / "versions").glob("*.py")):
        fields = {m[1]: m[2] or None for m in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8"))}
        if "revision" not in fields or fields["revision"] is None:
            raise RuntimeError(f"{path.name}: no `revision = \"...\"` line")
        found[fields["revision"]] = fields.get("down_revision")
    return found


@cache
def head() -> str:
    """This pgqueue's migrations head: the one revision no other follows."""
    known = revisions()
    heads = set(known) - {down for down in known.values() if down is not None}
    if len(heads) != 1:
        raise RuntimeError(f"pgqueue's migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def schema_status(revision: str | None, head: str) -> str:
    """Classify a database revision against this pgqueue's ``head``.

    ``current`` (equal), ``newer`` (unknown here, so written by a newer release),
    ``behind`` (an ancestor of head: run ``pgqueue migrate``), ``missing`` (never migrated).
    """
    if revision is None:
        return MISSING
    if revision == head:
        return CURRENT
    return BEHIND if revision in revisions() else NEWER


def read(conn: Any) -> str | None:
    """The revision the database on ``conn`` (a psycopg connection) is at; None when its
    migration table has no row. The caller knows the table exists (db_probe, health_probe)."""
    found = conn.execute(query("health_revision")).fetchone()
    return None if found is None else str(found[0])
