"""Where a database's schema revision stands against this pgqueue's migrations head.

Imports Alembic only when a revision has to be looked up (the probe and the check).
"""

from __future__ import annotations

from functools import cache

CURRENT, NEWER, BEHIND, MISSING, UNKNOWN = "current", "newer", "behind", "missing", "unknown"


def head() -> str:
    """This pgqueue's migrations head."""
    from . import _migrate  # Alembic and SQLAlchemy: imported only when a revision is checked

    return _migrate.head()


@cache
def _known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory  # heavy: imported only when a probe runs

    from . import _migrate

    script = ScriptDirectory(str(_migrate.migrations_dir()))
    return frozenset(rev.revision for rev in script.walk_revisions())


def schema_status(revision: str | None, head: str) -> str:
    """Classify a database revision against this pgqueue's ``head``.

    ``current`` (equal), ``newer`` (unknown here, so written by a newer release),
    ``behind`` (an ancestor of head: run ``pgqueue migrate``), ``missing`` (never migrated).
    """
    if revision is None:
        return MISSING
    if revision == head:
        return CURRENT
    return BEHIND if revision in _known_revisions() else NEWER
