"""Filters for *your application's* Alembic: autogenerate leaves pgqueue's schema alone.

pgqueue migrates its own schema (``pgqueue migrate``, version table
``pgqueue.alembic_version``). An application whose Alembic compares every schema
(``include_schemas=True``) would otherwise see pgqueue's tables, including that version
table, as unknown and propose dropping them; one whose metadata includes
:data:`pgqueue.schema.metadata` (to reference ``pgqueue.jobs``) would propose creating
them. In the application's ``env.py``::

    from pgqueue.alembic import include_name, include_object

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=include_name,
        include_object=include_object,
    )

Both return False for the ``pgqueue`` schema and everything in it, True for anything
else, so they compose with the application's own rules
(``return include_object(...) and my_rule(...)``). A foreign key from the
application's table to ``pgqueue.jobs`` stays the application's (it lives on its table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._settings import SCHEMA

__all__ = ["SCHEMA", "include_name", "include_object"]


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic's ``include_name`` hook: skip reflecting the ``pgqueue`` schema at all.

    Called for reflected names only; ``name`` is None for the default schema.
    """
    if type_ == "schema":
        return name != SCHEMA
    return parent_names.get("schema_name") != SCHEMA


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object`` hook: skip pgqueue's tables and everything on them,
    from the database and from the metadata alike (so merging
    :data:`pgqueue.schema.metadata` into the application's metadata is safe)."""
    return _schema_of(obj, type_) != SCHEMA


def _schema_of(obj: Any, type_: str) -> str | None:
    if type_ == "table":
        return getattr(obj, "schema", None)
    table = getattr(obj, "table", None)  # columns, indexes, constraints
    if table is None and type_ == "foreign_key_constraint":
        table = getattr(obj, "parent", None)
    return getattr(table, "schema", None)
