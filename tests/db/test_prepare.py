"""The single enqueue's INSERT is a server-side prepared statement on a direct connection
of pgqueue's own pool, and nothing else is prepared (pgqueue._db.prepare_if_direct).
Behind pgbouncer nothing is prepared: see tests/deploy/test_pgbouncer.py."""

from __future__ import annotations

import asyncio

import psycopg

import pgqueue
from pgqueue import _db

PREPARED = "SELECT statement FROM pg_prepared_statements"


def test_own_pool_prepares_the_single_enqueue_only(dsn: str) -> None:
    with pgqueue.App(dsn=dsn, pool_min_size=1, pool_max_size=1) as app:
        for i in range(3):
            app.enqueue("t.any", [i])
        job = app.enqueue("t.any", [9])
        for _ in range(6):  # a statement run often is still not prepared automatically
            job.refresh()
        with app.pool.connection() as conn:
            assert conn.prepare_threshold == _db.ON_REQUEST_ONLY
            statements = [r[0] for r in conn.execute(PREPARED).fetchall()]
    assert len(statements) == 1
    assert "INSERT INTO pgqueue.jobs" in statements[0]
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (4,)


def test_async_pool_prepares_the_single_enqueue_too(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn, pool_min_size=1, pool_max_size=1)

    async def main() -> list[str]:
        for i in range(3):
            await app.enqueue_async("t.any", [i])
        pool = await app.async_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(PREPARED)
            rows = await cur.fetchall()
        await app.aclose()
        return [r[0] for r in rows]

    statements = asyncio.run(main())
    assert len(statements) == 1 and "INSERT INTO pgqueue.jobs" in statements[0]


def test_a_callers_connection_keeps_its_own_policy(dsn: str) -> None:
    with pgqueue.App(dsn=dsn) as app, psycopg.connect(dsn, prepare_threshold=None) as conn:
        for i in range(3):
            app.enqueue("t.any", [i], conn=conn)
        conn.commit()
        assert conn.execute(PREPARED).fetchall() == []
