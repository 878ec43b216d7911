"""Enqueue in the caller's transaction, for every kind of connection ``conn=`` accepts.

Each kind must: commit the business row and the jobs together; leave neither after
a rollback; wake no one after a rollback and each queue exactly once after a commit
that enqueued many jobs (single and bulk, several statements).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

import pgqueue
from pgqueue.errors import UnsupportedConnection

from .enqueue_support import Listener, count_jobs, table_snapshot

INSERT_USER = "INSERT INTO users (name) VALUES ('ada')"


class Txn:
    """What a test needs from one kind of caller connection."""

    def __init__(self, conn: Any, execute: Callable[[str], Any], commit: Any, rollback: Any) -> None:
        self.conn = conn
        self.execute = execute
        self.commit = commit
        self.rollback = rollback


@contextmanager
def psycopg_connection(dsn: str) -> Iterator[Txn]:
    with psycopg.connect(dsn) as conn:
        yield Txn(conn, conn.execute, conn.commit, conn.rollback)


@contextmanager
def psycopg_cursor(dsn: str) -> Iterator[Txn]:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        yield Txn(cur, cur.execute, conn.commit, conn.rollback)


def _engine(dsn: str) -> sa.Engine:
    return sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))


@contextmanager
def sqlalchemy_session(dsn: str) -> Iterator[Txn]:
    engine = _engine(dsn)
    with Session(engine) as session:
        yield Txn(session, lambda q: session.execute(sa.text(q)), session.commit, session.rollback)
    engine.dispose()


@contextmanager
def sqlalchemy_connection(dsn: str) -> Iterator[Txn]:
    engine = _engine(dsn)
    with engine.connect() as conn:
        yield Txn(conn, lambda q: conn.execute(sa.text(q)), conn.commit, conn.rollback)
    engine.dispose()


SYNC_KINDS: dict[str, Callable[[str], AbstractContextManager[Txn]]] = {
    "psycopg Connection": psycopg_connection,
    "psycopg Cursor": psycopg_cursor,
    "SQLAlchemy Session": sqlalchemy_session,
    "SQLAlchemy Connection": sqlalchemy_connection,
}


@asynccontextmanager
async def psycopg_async_connection(dsn: str) -> AsyncIterator[Txn]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        yield Txn(conn, conn.execute, conn.commit, conn.rollback)


@asynccontextmanager
async def psycopg_async_cursor(dsn: str) -> AsyncIterator[Txn]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.cursor() as cur:
        yield Txn(cur, cur.execute, conn.commit, conn.rollback)


def _async_engine(dsn: str) -> Any:
    return create_async_engine(
        "postgresql+psycopg://", async_creator=lambda: psycopg.AsyncConnection.connect(dsn)
    )


@asynccontextmanager
async def sqlalchemy_async_session(dsn: str) -> AsyncIterator[Txn]:
    engine = _async_engine(dsn)
    async with AsyncSession(engine) as session:
        yield Txn(session, lambda q: session.execute(sa.text(q)), session.commit, session.rollback)
    await engine.dispose()


@asynccontextmanager
async def sqlalchemy_async_connection(dsn: str) -> AsyncIterator[Txn]:
    engine = _async_engine(dsn)
    async with engine.connect() as conn:
        yield Txn(conn, lambda q: conn.execute(sa.text(q)), conn.commit, conn.rollback)
    await engine.dispose()


ASYNC_KINDS: dict[str, Callable[[str], AbstractAsyncContextManager[Txn]]] = {
    "psycopg AsyncConnection": psycopg_async_connection,
    "psycopg AsyncCursor": psycopg_async_cursor,
    "SQLAlchemy AsyncSession": sqlalchemy_async_session,
    "SQLAlchemy AsyncConnection": sqlalchemy_async_connection,
}


@pytest.fixture
def db(dsn: str) -> Iterator[str]:
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL)")
    yield dsn


@pytest.fixture
def app(db: str) -> Iterator[pgqueue.App]:
    with pgqueue.App(dsn=db) as application:
        yield application


def tasks(app: pgqueue.App) -> tuple[pgqueue.Task[[int], None], pgqueue.Task[[int], None]]:
    @app.task(queue="emails")
    def send_welcome(user_id: int) -> None: ...

    @app.task(queue="reports")
    def report(n: int) -> None: ...

    return send_welcome, report


def users(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("kind", list(SYNC_KINDS))
def test_sync_caller_transaction(db: str, app: pgqueue.App, kind: str) -> None:
    send_welcome, report = tasks(app)
    listener = Listener(db)
    try:
        # rollback: neither the user nor any job, and no wake-up
        with SYNC_KINDS[kind](db) as txn:
            txn.execute(INSERT_USER)
            job = send_welcome.configure(conn=txn.conn).enqueue(1)
            report.configure(conn=txn.conn).enqueue_many([(i,) for i in range(20)])
            assert count_jobs(db) == 0  # not visible before commit
            txn.rollback()
        assert (users(db), count_jobs(db)) == (0, 0)
        assert listener.drain() == {}
        with pytest.raises(pgqueue.errors.JobNotFound):
            job.refresh()

        # commit: the user and all jobs together, one wake-up per queue
        with SYNC_KINDS[kind](db) as txn:
            txn.execute(INSERT_USER)
            job = send_welcome.configure(conn=txn.conn).enqueue(1)
            send_welcome.configure(conn=txn.conn).enqueue(2)
            ids = report.configure(conn=txn.conn).enqueue_many([(i,) for i in range(500)])
            app.enqueue(report.name, args=(0,), conn=txn.conn)
            txn.commit()
        assert (users(db), count_jobs(db)) == (1, 503)
        assert job.refresh().state is pgqueue.JobState.QUEUED
        assert len(ids) == 500
        assert listener.drain() == {"emails": 1, "reports": 1}
    finally:
        listener.close()


@pytest.mark.parametrize("kind", list(ASYNC_KINDS))
def test_async_caller_transaction(db: str, app: pgqueue.App, kind: str) -> None:
    send_welcome, report = tasks(app)
    listener = Listener(db)

    async def rollback() -> None:
        async with ASYNC_KINDS[kind](db) as txn:
            await txn.execute(INSERT_USER)
            await send_welcome.configure(conn=txn.conn).enqueue_async(1)
            await report.configure(conn=txn.conn).enqueue_many_async([(i,) for i in range(20)])
            await txn.rollback()

    async def commit() -> list[int]:
        async with ASYNC_KINDS[kind](db) as txn:
            await txn.execute(INSERT_USER)
            await send_welcome.configure(conn=txn.conn).enqueue_async(1)
            ids = await report.configure(conn=txn.conn).enqueue_many_async([(i,) for i in range(500)])
            await app.enqueue_async(report.name, args=(0,), conn=txn.conn)
            await txn.commit()
        return ids

    try:
        asyncio.run(rollback())
        assert (users(db), count_jobs(db)) == (0, 0)
        assert listener.drain() == {}
        ids = asyncio.run(commit())
        assert (users(db), count_jobs(db)) == (1, 502)
        assert len(ids) == 500 and count_jobs(db, "id = ANY(%s)", (ids,)) == 500
        assert listener.drain() == {"emails": 1, "reports": 1}
    finally:
        listener.close()


def test_bulk_failure_leaves_the_callers_transaction_usable(db: str, app: pgqueue.App) -> None:
    """A bad item in a later batch undoes the bulk enqueue, not the caller's work."""
    from pgqueue import _enqueue_many

    _, report = tasks(app)
    items: list[Any] = [(i,) for i in range(_enqueue_many.BATCH_ROWS * 2)] + [({1},)]
    with psycopg.connect(db) as conn:
        conn.execute(INSERT_USER)
        report.configure(conn=conn).enqueue(1)
        with pytest.raises(pgqueue.errors.InvalidPayload):
            report.configure(conn=conn).enqueue_many(items)
        conn.execute(INSERT_USER)  # the transaction is still alive
        conn.commit()
    assert (users(db), count_jobs(db)) == (2, 1)


def test_autocommit_connection_commits_at_once(db: str, app: pgqueue.App) -> None:
    send_welcome, _ = tasks(app)
    with psycopg.connect(db, autocommit=True) as conn:
        send_welcome.configure(conn=conn).enqueue(1)
        send_welcome.configure(conn=conn).enqueue_many([(2,), (3,)])
        assert count_jobs(db) == 3


def test_a_connection_with_its_own_row_factory(db: str, app: pgqueue.App) -> None:
    """pgqueue reads its statements' rows with row factories of its own: a caller's
    connection that makes dicts (or anything else) works for every kind of write. Before
    (issue 22): KeyError: 0, a unique key "kept changing hands", a parent "does not exist"."""
    send_welcome, report = tasks(app)
    with psycopg.connect(db, row_factory=dict_row) as conn:
        first = send_welcome.configure(conn=conn).enqueue(1)
        keyed = send_welcome.configure(conn=conn, unique_key="welcome-2").enqueue(2)
        assert send_welcome.configure(conn=conn, unique_key="welcome-2").enqueue(2) == keyed
        assert len(report.configure(conn=conn).enqueue_many([(3,), (4,), (5,)])) == 3
        report.configure(conn=conn, depends_on=[first]).enqueue(6)
        pgqueue.chain(report.s(7), report.s()).enqueue(conn=conn)
        conn.commit()

    async def twin() -> None:
        async with await psycopg.AsyncConnection.connect(db, row_factory=dict_row) as aconn:
            await send_welcome.configure(conn=aconn).enqueue_async(8)
            await send_welcome.configure(conn=aconn, unique_key="welcome-9").enqueue_async(9)
            assert len(await report.configure(conn=aconn).enqueue_many_async([(10,), (11,)])) == 2
            await aconn.commit()

    asyncio.run(twin())
    assert count_jobs(db) == 12


def test_unsupported_connections_get_a_clear_error(db: str, app: pgqueue.App) -> None:
    send_welcome, _ = tasks(app)
    before = table_snapshot(db)
    sqlite = sa.create_engine("sqlite://")
    with Session(sqlite) as session, pytest.raises(UnsupportedConnection, match="psycopg driver"):
        send_welcome.configure(conn=session).enqueue(1)
    with psycopg.connect(db) as conn:
        with pytest.raises(UnsupportedConnection, match="sync psycopg connection"):
            asyncio.run(send_welcome.configure(conn=conn).enqueue_async(1))
    with pytest.raises(UnsupportedConnection, match="got str"):
        send_welcome.configure(conn="postgresql://").enqueue(1)

    async def sync_call_with_async_conn() -> None:
        async with await psycopg.AsyncConnection.connect(db) as aconn:
            send_welcome.configure(conn=aconn).enqueue(1)

    with pytest.raises(UnsupportedConnection, match="use enqueue_async"):
        asyncio.run(sync_call_with_async_conn())
    assert table_snapshot(db) == before
