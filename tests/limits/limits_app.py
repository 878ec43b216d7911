"""Tasks the limits and cancellation tests run in `pgqueue work` subprocesses
(``tests.limits.limits_app:app``). Each execution writes its start and end, read from
the database clock, to the test database's ``exec_log`` table."""

from __future__ import annotations

import asyncio
import os
import time

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN names the test's database


def log_start(ctx: pgqueue.Context) -> int:
    with app.pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO exec_log (job_id, attempt, pid, started_at) "
            "VALUES (%s, %s, %s, clock_timestamp()) RETURNING id",
            (ctx.job.id, ctx.attempt, os.getpid()),
        ).fetchone()
    assert row is not None
    return int(row[0])


def log_end(log_id: int) -> None:
    with app.pool.connection() as conn:
        conn.execute("UPDATE exec_log SET finished_at = clock_timestamp() WHERE id = %s", (log_id,))


@app.task(name="l.sleep", bind=True)
def sleep(ctx: pgqueue.Context, seconds: float) -> int:
    log_id = log_start(ctx)
    time.sleep(seconds)
    log_end(log_id)
    return ctx.job.id


@app.task(name="l.coop", bind=True)
def cooperative(ctx: pgqueue.Context) -> str:
    """Long sync work in small steps, checking for a cancel between them."""
    log_start(ctx)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ctx.raise_if_cancelled()
        time.sleep(0.01)
    return "not cancelled"


@app.task(name="l.async_wait", bind=True)
async def async_wait(ctx: pgqueue.Context) -> str:
    await asyncio.to_thread(log_start, ctx)
    await asyncio.sleep(60)
    return "not cancelled"
