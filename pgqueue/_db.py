"""Connections and pools: the only module that opens database connections.

pgqueue's own work (fire-and-forget enqueue, the worker's claims and
completions) runs on a lazily created :class:`psycopg_pool.ConnectionPool`;
the worker's LISTEN connection is a direct one (never through a pooler).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool

APPLICATION_NAME = "pgqueue"
CONNECT_TIMEOUT_S = 10
PREPARE_THRESHOLD: int | None = None
"""psycopg's automatic server-side prepared statements stay off: behind a transaction
pooler (pgbouncer < 1.21, pool_mode=transaction) a statement prepared on one server
connection is executed on another and fails, and a generic plan chosen after five runs
can be far worse than the custom one (measured on the batched completion)."""
ON_REQUEST_ONLY = 2**31 - 1
"""prepare_threshold of a direct connection of pgqueue's own pool: no statement is
prepared automatically, one executed with ``prepare=True`` (the single enqueue) is."""


def prepare_if_direct(conn: psycopg.Connection[TupleRow]) -> None:
    """Pool hook: let ``execute(..., prepare=True)`` prepare on ``conn`` if it reaches the
    server directly. Behind a pooler the backend pid the server reports differs from the
    one in the connection's cancel key (the pooler's own), and nothing is ever prepared."""
    from ._sql import query

    row = conn.execute(query("backend_pid")).fetchone()
    conn.prepare_threshold = ON_REQUEST_ONLY if row and row[0] == conn.info.backend_pid else None


async def prepare_if_direct_async(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    """The async twin of :func:`prepare_if_direct`."""
    from ._sql import query

    row = await (await conn.execute(query("backend_pid"))).fetchone()
    conn.prepare_threshold = ON_REQUEST_ONLY if row and row[0] == conn.info.backend_pid else None


def connect_kwargs(application_name: str = APPLICATION_NAME) -> dict[str, Any]:
    return {
        "application_name": application_name,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "prepare_threshold": PREPARE_THRESHOLD,
    }


def connect(
    dsn: str, *, autocommit: bool = True, application_name: str = APPLICATION_NAME
) -> psycopg.Connection[TupleRow]:
    """A direct connection (autocommit by default)."""
    return psycopg.connect(dsn, autocommit=autocommit, **connect_kwargs(application_name))


def check_reachable(dsn: str) -> None:
    """Connect once and hang up; raise DatabaseUnavailable with the reason (no password)."""
    from ._dsn import redact
    from .errors import DatabaseUnavailable

    try:
        with psycopg.connect(dsn, **connect_kwargs()):
            pass
    except psycopg.OperationalError as exc:
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        raise DatabaseUnavailable(
            f"cannot reach the database ({reason}); check --dsn / PGQUEUE_DSN / DATABASE_URL "
            "and that the server is up"
        ) from None


def make_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    name: str = APPLICATION_NAME,
    configure: Callable[[psycopg.Connection[TupleRow]], None] | None = None,
) -> ConnectionPool[psycopg.Connection[TupleRow]]:
    """An open pool of autocommit connections; each statement commits on its own.
    ``configure`` is called once on every new connection (psycopg_pool's hook)."""
    return ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, **connect_kwargs(name)},
        name=name,
        configure=configure,
        open=True,
    )


async def make_async_pool(
    dsn: str, *, min_size: int, max_size: int, name: str = APPLICATION_NAME
) -> AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]:
    pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, **connect_kwargs(name)},
        name=name,
        configure=prepare_if_direct_async,
        open=False,
    )
    await pool.open()
    return pool


class LazyPool:
    """Creates its pool on first use, once, even when threads race for it."""

    def __init__(self, dsn_factory: Any, min_size: int, max_size: int) -> None:
        self._dsn_factory = dsn_factory
        self._min = min_size
        self._max = max_size
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] | None = None
        self._lock = threading.Lock()

    def get(self) -> ConnectionPool[psycopg.Connection[TupleRow]]:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = make_pool(
                        self._dsn_factory(),
                        min_size=self._min,
                        max_size=self._max,
                        configure=prepare_if_direct,
                    )
                pool = self._pool
        return pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
