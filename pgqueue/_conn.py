"""The caller's connection: turning ``conn=`` into the psycopg connection it wraps.

``conn=`` may be a psycopg ``Connection``/``Cursor``, an ``AsyncConnection``/
``AsyncCursor``, a SQLAlchemy ``Session``/``Connection`` (and
``AsyncSession``/``AsyncConnection``, and the scoped variants) on the psycopg
driver, or Django's ``connection`` (psycopg 3 backend; pgqueue.contrib.django).
pgqueue writes through the very DBAPI connection underneath, inside the caller's
transaction, and never commits or rolls it back: the job lands when the caller
commits, and a rollback leaves nothing. A SQLAlchemy object gets its
transaction begun first (as its own next statement would), so the caller's
``commit()`` covers the job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import TupleRow

from ._sql import query
from .errors import UnsupportedConnection

if TYPE_CHECKING:
    from ._types import AppLike

Conn = psycopg.Connection[TupleRow]
AsyncConn = psycopg.AsyncConnection[TupleRow]

_EXPECTED = (
    "conn= must be a psycopg 3 Connection/Cursor (or their async variants), a SQLAlchemy "
    "Session/Connection (or AsyncSession/AsyncConnection) using the psycopg driver, or "
    "Django's connection"
)


def resolve(conn: object) -> Conn:
    """The sync psycopg connection behind ``conn``; raises UnsupportedConnection."""
    if isinstance(conn, psycopg.Connection):
        return conn
    if isinstance(conn, psycopg.Cursor):
        return conn.connection
    if isinstance(conn, psycopg.AsyncConnection | psycopg.AsyncCursor):
        raise UnsupportedConnection(
            "conn= is an async psycopg connection; use enqueue_async / enqueue_many_async with it"
        )
    if type(conn).__module__.startswith("sqlalchemy."):
        return _sqlalchemy_sync(conn)
    if type(conn).__module__.startswith("django."):
        from .contrib.django._conn import psycopg_connection

        return psycopg_connection(conn)
    raise UnsupportedConnection(f"{_EXPECTED}; got {type(conn).__qualname__}")


async def resolve_async(conn: object) -> AsyncConn:
    """The async psycopg connection behind ``conn``; raises UnsupportedConnection."""
    if isinstance(conn, psycopg.AsyncConnection):
        return conn
    if isinstance(conn, psycopg.AsyncCursor):
        return conn.connection
    if isinstance(conn, psycopg.Connection | psycopg.Cursor):
        raise UnsupportedConnection(
            "conn= is a sync psycopg connection; use enqueue / enqueue_many with it"
        )
    if type(conn).__module__.startswith("sqlalchemy."):
        return await _sqlalchemy_async(conn)
    if type(conn).__module__.startswith("django."):
        raise UnsupportedConnection(
            "conn= is a Django connection, which is sync and per thread; use enqueue / "
            "enqueue_many with it (from async code: asgiref's sync_to_async)"
        )
    raise UnsupportedConnection(f"{_EXPECTED}; got {type(conn).__qualname__}")


def _check_dialect(sa_conn: Any) -> None:
    dialect = sa_conn.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        raise UnsupportedConnection(
            f"SQLAlchemy conn= must use the psycopg driver (postgresql+psycopg://), "
            f"this one uses {dialect.name}+{dialect.driver}"
        )


def _sqlalchemy_sync(conn: Any) -> Conn:
    # Never import sqlalchemy.ext.asyncio here: it needs greenlet, which SQLAlchemy >= 2.1
    # no longer installs, and a sync Session must work without it. Async objects are told
    # apart by their module instead.
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session, scoped_session

    if type(conn).__module__.startswith("sqlalchemy.ext.asyncio"):
        raise UnsupportedConnection(
            "conn= is an async SQLAlchemy object; use enqueue_async / enqueue_many_async with it"
        )
    if isinstance(conn, scoped_session):
        conn = conn()
    if isinstance(conn, Session):
        conn = conn.connection()  # begins the session's transaction
    if not isinstance(conn, Connection):
        raise UnsupportedConnection(f"{_EXPECTED}; got {type(conn).__qualname__}")
    _check_dialect(conn)
    if not conn.in_transaction():
        conn.begin()  # what its next execute() would do: the caller's commit() covers the job
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


async def _sqlalchemy_async(conn: Any) -> AsyncConn:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_scoped_session

    if isinstance(conn, async_scoped_session):
        conn = conn()
    if isinstance(conn, AsyncSession):
        conn = await conn.connection()
    if not isinstance(conn, AsyncConnection):
        if type(conn).__module__.startswith("sqlalchemy."):
            raise UnsupportedConnection(
                "conn= is a sync SQLAlchemy object; use enqueue / enqueue_many with it"
            )
        raise UnsupportedConnection(f"{_EXPECTED}; got {type(conn).__qualname__}")
    _check_dialect(conn)
    if not conn.in_transaction():
        await conn.begin()
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    return raw


@contextmanager
def transaction(app: AppLike, conn: object = None) -> Iterator[Conn]:
    """A connection on which several statements land together or not at all.

    Without ``conn``: a pooled connection inside BEGIN ... COMMIT. With the
    caller's connection: a savepoint inside the caller's transaction (released
    on success, rolled back on error, so the caller's transaction stays usable);
    never a commit. A caller's connection in autocommit mode gets BEGIN/COMMIT.
    """
    if conn is None:
        with app.pool.connection() as pg, pg.transaction():
            yield pg
        return
    pg = resolve(conn)
    if pg.autocommit:
        with pg.transaction():
            yield pg
        return
    pg.execute(query("enqueue_savepoint"))
    try:
        yield pg
    except BaseException:
        _undo(pg)
        raise
    pg.execute(query("enqueue_savepoint_release"))


def _undo(pg: Conn) -> None:
    if pg.closed or pg.broken:
        return
    try:
        pg.execute(query("enqueue_savepoint_rollback"))
        pg.execute(query("enqueue_savepoint_release"))
    except psycopg.Error:  # the original error says more than this one
        pass


@asynccontextmanager
async def atransaction(app: AppLike, conn: object = None) -> AsyncIterator[AsyncConn]:
    """The async twin of :func:`transaction`."""
    if conn is None:
        pool = await app.async_pool()
        async with pool.connection() as apg, apg.transaction():
            yield apg
        return
    apg = await resolve_async(conn)
    if apg.autocommit:
        async with apg.transaction():
            yield apg
        return
    await apg.execute(query("enqueue_savepoint"))
    try:
        yield apg
    except BaseException:
        if not (apg.closed or apg.broken):
            try:
                await apg.execute(query("enqueue_savepoint_rollback"))
                await apg.execute(query("enqueue_savepoint_release"))
            except psycopg.Error:
                pass
        raise
    await apg.execute(query("enqueue_savepoint_release"))
