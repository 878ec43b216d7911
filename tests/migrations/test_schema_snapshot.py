"""migrations/schema.sql is the schema the migrations produce, object by object."""

from __future__ import annotations

import difflib

import pytest

from pgqueue import _schema_snapshot


def test_snapshot_matches_a_migrated_database(dsn: str) -> None:
    made_on, here = _schema_snapshot.stored_major(), _schema_snapshot.server_major(dsn)
    if made_on != here:
        pytest.skip(f"the snapshot was made on PostgreSQL {made_on}; this server is {here}")
    current = _schema_snapshot.render(dsn)
    stored = _schema_snapshot.PATH.read_text(encoding="utf-8")
    if current != stored:
        diff = "".join(
            difflib.unified_diff(stored.splitlines(True), current.splitlines(True), "stored", "migrated", n=1)
        )
        raise AssertionError(
            "migrations/schema.sql is out of date; regenerate it with "
            "`python -m pgqueue._schema_snapshot DSN` on a database migrated to head:\n" + diff[:4000]
        )
    assert "-- table jobs\n" in stored and "-- function notify_jobs()" in stored
