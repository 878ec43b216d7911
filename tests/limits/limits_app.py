"""Tasks the limits and cancellation tests run in `pgqueue work` subprocesses
(``tests.limits.limits_app:app``). Each execution writes its start and end, read from
the database clock, to the test database's ``exec_log`` table."""

from __future__ import annotations

import asyncio
import time

import pgqueue
from tests import execlog

app = pgqueue.App()  # PGQUEUE_DSN names the test's database


def log_start(ctx: pgqueue.Context) -> int:
    return execlog.log_start(app.pool, ctx)


def log_end(log_id: int) -> None:
    execlog.log_end(app.pool, log_id)


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


@app.task(name="l.rated", bind=True, rate_limit="10/s")
def rated(ctx: pgqueue.Context, seconds: float = 0.0) -> int:
    """At most 10 starts per second across every worker (a per-task rate limit)."""
    log_id = log_start(ctx)
    time.sleep(seconds)
    log_end(log_id)
    return ctx.job.id
