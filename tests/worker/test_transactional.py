"""Transactional tasks (``transactional=True``): the task's writes commit with its
completion, or not at all. In-process workers on a real database; the crash and fence
cases with real processes are in tests/chaos/test_transactional_chaos.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

import pgqueue
from pgqueue.errors import InvalidOption


@pytest.fixture
def tx_app(dsn: str) -> Iterator[pgqueue.App]:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE orders (id serial PRIMARY KEY, job_id bigint, attempt int, how text)")
    with pgqueue.App(dsn=dsn) as app:
        yield app


def rows(dsn: str) -> list[tuple[int, int, str]]:
    with psycopg.connect(dsn, autocommit=True) as c:
        return [tuple(r) for r in c.execute("SELECT job_id, attempt, how FROM orders ORDER BY id")]  # type: ignore[misc]


def job_row(dsn: str, job_id: int) -> tuple[str, int, object]:
    with psycopg.connect(dsn, autocommit=True) as c:
        row = c.execute("SELECT state, attempt, result FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def run_worker(app: pgqueue.App, rounds: int = 5) -> dict[str, int]:
    """Run a worker until no job of the app is left queued or running (a worker that
    stops when idle may stop just before a retry it wrote itself becomes claimable)."""
    totals: dict[str, int] = {}
    for _ in range(rounds):
        worker = pgqueue.Worker(app, concurrency=4, stop_when_idle=True, poll_interval=0.2)
        worker.run()
        for key, value in worker.stats.snapshot().items():
            totals[key] = totals.get(key, 0) + value
        with psycopg.connect(app.dsn, autocommit=True) as c:
            sql = "SELECT count(*) FROM pgqueue.jobs WHERE state IN ('queued', 'running')"
            left = c.execute(sql).fetchone()
        if left == (0,):
            break
    return totals


def test_writes_through_conn_and_session_commit_with_the_success(dsn: str, tx_app: pgqueue.App) -> None:
    @tx_app.task(name="tx.place", bind=True, transactional=True)
    def place(ctx: pgqueue.Context, n: int) -> dict[str, int]:
        ctx.conn.execute(
            "INSERT INTO orders (job_id, attempt, how) VALUES (%s, %s, 'conn')", (ctx.job.id, ctx.attempt)
        )
        ctx.session.execute(
            sa.text("INSERT INTO orders (job_id, attempt, how) VALUES (:j, :a, 'session')"),
            {"j": ctx.job.id, "a": ctx.attempt},
        )
        ctx.session.commit()  # a savepoint: the worker's commit is the one that counts
        return {"n": n}

    job = place.enqueue(7)
    stats = run_worker(tx_app)
    assert job_row(dsn, job.id) == ("succeeded", 1, {"n": 7})
    assert stats.get("succeeded") == 1 and not stats.get("fenced_out")  # written once, in the task's tx
    assert rows(dsn) == [(job.id, 1, "conn"), (job.id, 1, "session")]


def test_a_task_that_raises_after_writing_leaves_nothing_and_is_retried(
    dsn: str, tx_app: pgqueue.App
) -> None:
    @tx_app.task(name="tx.flaky", bind=True, transactional=True, max_attempts=3, backoff=lambda a: 0.0)
    def flaky(ctx: pgqueue.Context) -> None:
        ctx.conn.execute(
            "INSERT INTO orders (job_id, attempt, how) VALUES (%s, %s, 'conn')", (ctx.job.id, ctx.attempt)
        )
        follow_up.configure(conn=ctx.conn).enqueue(ctx.attempt)  # a follow-up job, same transaction
        if ctx.attempt < 3:
            raise RuntimeError(f"attempt {ctx.attempt} fails after writing")

    @tx_app.task(name="tx.follow_up")
    def follow_up(attempt: int) -> int:
        return attempt

    job = flaky.enqueue()
    run_worker(tx_app)
    assert job_row(dsn, job.id)[:2] == ("succeeded", 3)
    assert rows(dsn) == [(job.id, 3, "conn")]  # the two failed attempts left no row
    with psycopg.connect(dsn, autocommit=True) as c:
        follow_ups = c.execute("SELECT args FROM pgqueue.jobs WHERE task = 'tx.follow_up'").fetchall()
    assert follow_ups == [([3],)]  # only the committed attempt's follow-up exists


def test_an_attempt_fenced_out_before_its_commit_rolls_back(dsn: str, tx_app: pgqueue.App) -> None:
    @tx_app.task(name="tx.lost", bind=True, transactional=True, max_attempts=3)
    def lost(ctx: pgqueue.Context) -> str:
        ctx.conn.execute(
            "INSERT INTO orders (job_id, attempt, how) VALUES (%s, %s, 'conn')", (ctx.job.id, ctx.attempt)
        )
        if ctx.attempt == 1:
            # What a rescuer does to a worker it believes dead: the job is queued again
            # under nobody, so this attempt's completion matches nothing.
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute(
                    "UPDATE pgqueue.jobs SET state = 'queued', worker_id = NULL, lease_expires_at = NULL"
                    " WHERE id = %s",
                    (ctx.job.id,),
                )
        return "done"

    job = lost.enqueue()
    run_worker(tx_app)
    assert job_row(dsn, job.id) == ("succeeded", 2, "done")
    assert rows(dsn) == [(job.id, 2, "conn")]  # attempt 1 was fenced out: its row is gone


def test_a_timed_out_attempt_rolls_back(dsn: str, tx_app: pgqueue.App) -> None:
    @tx_app.task(
        name="tx.slow", bind=True, transactional=True, timeout=0.3, max_attempts=2, backoff=lambda a: 0.0
    )
    def slow(ctx: pgqueue.Context) -> None:
        ctx.conn.execute(
            "INSERT INTO orders (job_id, attempt, how) VALUES (%s, %s, 'conn')", (ctx.job.id, ctx.attempt)
        )
        if ctx.attempt == 1:
            ctx.conn.execute("SELECT pg_sleep(1)")  # past the timeout; returns normally

    job = slow.enqueue()
    run_worker(tx_app)
    assert job_row(dsn, job.id)[:2] == ("succeeded", 2)
    assert rows(dsn) == [(job.id, 2, "conn")]


def test_async_task_commits_with_its_completion(dsn: str, tx_app: pgqueue.App) -> None:
    @tx_app.task(name="tx.async_place", bind=True, transactional=True, max_attempts=2, backoff=lambda a: 0.0)
    async def place(ctx: pgqueue.Context) -> int:
        assert isinstance(ctx.conn, psycopg.AsyncConnection)
        await ctx.conn.execute(
            "INSERT INTO orders (job_id, attempt, how) VALUES (%s, %s, 'async')", (ctx.job.id, ctx.attempt)
        )
        await asyncio.sleep(0)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails after writing")
        return ctx.attempt

    job = place.enqueue()
    run_worker(tx_app)
    assert job_row(dsn, job.id) == ("succeeded", 2, 2)
    assert rows(dsn) == [(job.id, 2, "async")]


def test_transactional_needs_bind(tx_app: pgqueue.App) -> None:
    def plain() -> None:
        return None

    with pytest.raises(InvalidOption, match="transactional=True needs bind=True"):
        tx_app.task(name="tx.plain", transactional=True)(plain)  # type: ignore[call-overload]
