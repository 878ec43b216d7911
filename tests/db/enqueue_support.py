"""Shared by the enqueue tests: a wake-up listener and a statement counter."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, LiteralString

import psycopg
from psycopg import sql

CHANNEL = "pgqueue_jobs"


class Listener:
    """A LISTENing connection that counts pgqueue's wake-ups, without sleeping.

    ``drain()`` sends a sentinel notification from another connection and reads
    until it arrives: notifications are delivered in commit order, so everything
    committed before the sentinel has arrived by then.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def drain(self, timeout: float = 30.0) -> Counter[str]:
        """Payloads (queue names) received since the last drain, with counts."""
        sentinel = f"sentinel-{uuid.uuid4().hex}"
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, sentinel))
        got: Counter[str] = Counter()
        for note in self.conn.notifies(timeout=timeout):
            if note.payload == sentinel:
                return got
            if not note.payload.startswith("sentinel-"):
                got[note.payload] += 1
        raise AssertionError(f"sentinel notification not received within {timeout}s")

    def close(self) -> None:
        self.conn.close()


def count_jobs(dsn: str, where: LiteralString = "true", params: Any = None) -> int:
    query = sql.SQL("SELECT count(*) FROM pgqueue.jobs WHERE {}").format(sql.SQL(where))
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def table_snapshot(dsn: str) -> tuple[int, int]:
    """(row count, highest id) of pgqueue.jobs: equal before and after means nothing written."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM pgqueue.jobs").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class CountingCursor(psycopg.Cursor[Any]):
    """Counts statements sent (execute and COPY), i.e. round trips, per connection."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        _counts(self.connection)["execute"] += 1
        return super().execute(query, params, **kwargs)

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        _counts(self.connection)["copy"] += 1
        return super().copy(statement, params, **kwargs)


def _counts(conn: Any) -> Counter[str]:
    counts: Counter[str] | None = getattr(conn, "_test_counts", None)
    if counts is None:
        counts = Counter()
        conn._test_counts = counts
    return counts


def counting_connection(dsn: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, cursor_factory=CountingCursor)
    conn._test_counts = Counter()  # type: ignore[attr-defined]
    return conn


def statements(conn: Any) -> Counter[str]:
    return _counts(conn)
