"""Tasks of the chaos suite, run by real ``pgqueue work`` processes (``tests.chaos.chaos_app:app``).

Every execution writes one row of the test database's ``exec_log`` (job_id, attempt, pid,
started_at, finished_at) when it starts and completes that row when it ends, through a
small pool of its own (``CHAOS_LOG_DSN``, else ``PGQUEUE_DSN``; application_name
``chaos-log``), so a scenario that cuts pgqueue's connections never cuts the log's.

Environment knobs, read at import in the worker process (tests only):
``CHAOS_PING_INTERVAL`` / ``CHAOS_PING_TIMEOUT`` (listener liveness check),
``CHAOS_DEADLINE`` (bound on a pooled worker block), ``CHAOS_PAUSE_BEFORE_COMPLETE=1``
(fault hook: outcomes are never written; the process records where it stopped in
``fault_points`` and waits there to be killed).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

import pgqueue
from pgqueue._worker import completer, deadline, listener
from tests import execlog

app = pgqueue.App()

if os.environ.get("CHAOS_PING_INTERVAL"):
    listener.PING_INTERVAL_S = float(os.environ["CHAOS_PING_INTERVAL"])
if os.environ.get("CHAOS_PING_TIMEOUT"):
    listener.PING_TIMEOUT_S = float(os.environ["CHAOS_PING_TIMEOUT"])
if os.environ.get("CHAOS_DEADLINE"):
    deadline.POOL_BLOCK_DEADLINE_S = float(os.environ["CHAOS_DEADLINE"])

_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def log_pool() -> ConnectionPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            dsn = os.environ.get("CHAOS_LOG_DSN") or os.environ["PGQUEUE_DSN"]
            _pool = ConnectionPool(
                dsn,
                min_size=1,
                max_size=4,
                kwargs={"autocommit": True, "application_name": "chaos-log", "connect_timeout": 5},
                check=ConnectionPool.check_connection,
                name="chaos-log",
                open=True,
            )
        return _pool


def log_start(ctx: pgqueue.Context) -> int:
    return execlog.log_start(log_pool(), ctx)


def log_end(log_id: int) -> None:
    execlog.log_end(log_pool(), log_id)


@app.task(name="c.work", bind=True, max_attempts=25, backoff_base=0.2, backoff_max=2.0)
def work(ctx: pgqueue.Context, seconds: float) -> int:
    """A well-behaved job: logs its run, takes ``seconds``, returns its id."""
    log_id = log_start(ctx)
    time.sleep(seconds)
    log_end(log_id)
    return ctx.job.id


@app.task(name="c.poison", bind=True, max_attempts=3)
def poison(ctx: pgqueue.Context) -> None:
    """Takes its worker process down with it, every time (noting the death in ``kills``)."""
    log_start(ctx)
    with log_pool().connection() as conn:
        conn.execute("INSERT INTO kills (pid) VALUES (%s) ON CONFLICT DO NOTHING", (os.getpid(),))
    os._exit(1)


@app.task(name="c.effect", bind=True, max_attempts=5)
def effect(ctx: pgqueue.Context, key: str) -> str:
    """A run with a user-visible effect: one row in ``effects`` per run (what at-least-once
    repeats) and one row in ``effects_once`` keyed by the job (the idempotent recipe)."""
    log_id = log_start(ctx)
    with log_pool().connection() as conn:
        conn.execute(
            "INSERT INTO effects (job_id, attempt, key) VALUES (%s, %s, %s)", (ctx.job.id, ctx.attempt, key)
        )
        conn.execute(
            "INSERT INTO effects_once (job_id, key) VALUES (%s, %s) ON CONFLICT DO NOTHING", (ctx.job.id, key)
        )
    log_end(log_id)
    return key


# Transactional tasks: the effect row is written in the attempt's own transaction, which
# commits with the job's success or not at all (one row per job, whatever dies).
TX_EFFECT = "INSERT INTO effects (job_id, attempt, key) VALUES (%s, %s, %s)"


@app.task(name="c.tx_conn", bind=True, transactional=True, max_attempts=25, backoff_base=0.2, backoff_max=2.0)
def tx_conn(ctx: pgqueue.Context, seconds: float) -> int:
    log_id = log_start(ctx)
    ctx.conn.execute(TX_EFFECT, (ctx.job.id, ctx.attempt, "tx_conn"))
    time.sleep(seconds)
    log_end(log_id)
    return ctx.job.id


@app.task(
    name="c.tx_session", bind=True, transactional=True, max_attempts=25, backoff_base=0.2, backoff_max=2.0
)
def tx_session(ctx: pgqueue.Context, seconds: float) -> int:
    import sqlalchemy as sa

    log_id = log_start(ctx)
    ctx.session.execute(
        sa.text("INSERT INTO effects (job_id, attempt, key) VALUES (:j, :a, 'tx_session')"),
        {"j": ctx.job.id, "a": ctx.attempt},
    )
    time.sleep(seconds)
    log_end(log_id)
    return ctx.job.id


@app.task(
    name="c.tx_async", bind=True, transactional=True, max_attempts=25, backoff_base=0.2, backoff_max=2.0
)
async def tx_async(ctx: pgqueue.Context, seconds: float) -> int:
    import asyncio

    log_id = await asyncio.to_thread(log_start, ctx)
    await ctx.conn.execute(TX_EFFECT, (ctx.job.id, ctx.attempt, "tx_async"))
    await asyncio.sleep(seconds)
    await asyncio.to_thread(log_end, log_id)
    return ctx.job.id


def _pause_before_complete() -> None:
    """Fault hook: the task has returned and its outcome is queued, but it is never written."""

    def stuck(conn: psycopg.Connection[Any], worker_id: Any, batch: Any) -> set[int]:
        with psycopg.connect(
            os.environ.get("CHAOS_LOG_DSN") or os.environ["PGQUEUE_DSN"], autocommit=True
        ) as c:
            c.execute(
                "INSERT INTO fault_points (pid, job_ids) VALUES (%s, %s)",
                (os.getpid(), [o.job_id for o in batch]),
            )
        threading.Event().wait()  # until SIGKILL
        return set()

    completer.write_batch = stuck  # type: ignore[assignment]


if os.environ.get("CHAOS_PAUSE_BEFORE_COMPLETE") == "1":
    _pause_before_complete()
