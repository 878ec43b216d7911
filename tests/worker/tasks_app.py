"""Tasks the worker tests run, in subprocess workers (``tests.worker.tasks_app:app``) and
in-process. Each execution is recorded in the test database's ``exec_log`` table
(created by the ``exec_log`` fixture): job id, attempt, pid, start and end times."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Any

import psycopg

import pgqueue
from tests import execlog

app = pgqueue.App()  # PGQUEUE_DSN names the test's database


class TransientError(Exception):
    pass


class PermanentError(Exception):
    pass


def log_start(ctx: pgqueue.Context) -> int:
    return execlog.log_start(app.pool, ctx)


def log_end(log_id: int) -> None:
    execlog.log_end(app.pool, log_id)


@app.task(name="t.record", bind=True)
def record(ctx: pgqueue.Context, n: int) -> int:
    """One statement: the whole execution (start and end) in one row."""
    started = dt.datetime.now(dt.UTC)
    with app.pool.connection() as conn:
        conn.execute(
            "INSERT INTO exec_log (job_id, attempt, pid, started_at, finished_at) "
            "VALUES (%s, %s, %s, %s, clock_timestamp())",
            (ctx.job.id, ctx.attempt, os.getpid(), started),
        )
    return n


@app.task(name="t.sleep", bind=True)
def sleep_task(ctx: pgqueue.Context, seconds: float) -> dict[str, Any]:
    log_id = log_start(ctx)
    time.sleep(seconds)
    log_end(log_id)
    return {"pid": os.getpid(), "attempt": ctx.attempt}


@app.task(name="t.async_sleep", bind=True)
async def async_sleep(ctx: pgqueue.Context, seconds: float) -> dict[str, Any]:
    log_id = await asyncio.to_thread(log_start, ctx)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(log_end, log_id)
    return {"pid": os.getpid(), "attempt": ctx.attempt}


@app.task(name="t.flaky", bind=True, max_attempts=5, backoff_base=0.3, backoff_jitter=0.0)
def flaky(ctx: pgqueue.Context, fail_times: int) -> dict[str, int]:
    """Fails its first ``fail_times`` attempts with a TransientError."""
    log_end(log_start(ctx))
    if ctx.attempt <= fail_times:
        raise TransientError(f"transient failure on attempt {ctx.attempt}")
    return {"attempts": ctx.attempt}


@app.task(name="t.always_fails", max_attempts=3, backoff_base=0.05, backoff_jitter=0.0)
def always_fails() -> None:
    raise ValueError("boom")


@app.task(name="t.discard", discard_on=(PermanentError,), max_attempts=5)
def discard_me() -> None:
    raise PermanentError("bad input")


@app.task(name="t.retry_on", retry_on=(TransientError,), max_attempts=5)
def retry_on_only() -> None:
    raise KeyError("not transient")


@app.task(name="t.snooze", bind=True, max_attempts=1)
def snooze_once(ctx: pgqueue.Context) -> str:
    if (
        ctx.job.row.errors == []
        and not ctx.job.row.last_error
        and ctx.job.row.run_at == ctx.job.row.created_at
    ):
        raise pgqueue.Snooze(0.2)
    return "woke"


@app.task(name="t.slow_first", bind=True)
def slow_first(ctx: pgqueue.Context, first_seconds: float) -> dict[str, Any]:
    """The first attempt takes ``first_seconds``; later attempts return at once."""
    log_id = log_start(ctx)
    if ctx.attempt == 1:
        time.sleep(first_seconds)
    log_end(log_id)
    return {"pid": os.getpid(), "attempt": ctx.attempt}


@app.task(name="t.add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="t.async_add")
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@app.task(name="t.not_json", max_attempts=1)
def not_json() -> object:
    return {1, 2, 3}


@app.task(name="t.noop", store_result=False)
def noop() -> None:
    return None


@app.task(name="t.async_timeout", timeout=0.3, max_attempts=1)
async def async_timeout() -> None:
    await asyncio.sleep(30)


@app.task(name="t.sync_timeout", timeout=0.3, max_attempts=1, bind=True)
def sync_timeout(ctx: pgqueue.Context) -> None:
    deadline = time.monotonic() + 30
    while not ctx.cancelled and time.monotonic() < deadline:
        time.sleep(0.01)


# The task of the seed document, ported from Celery almost line for line.
@app.task(bind=True, max_attempts=3, retry_on=(TransientError,), discard_on=(PermanentError,))
def process_document(ctx: pgqueue.Context, document_id: int) -> dict[str, Any]:
    try:
        if document_id < 0:
            raise PermanentError(f"document {document_id} does not exist")
        if ctx.attempt == 1:
            raise TransientError("storage timed out")
        return {"document_id": document_id, "pages": 3}
    except TransientError as e:
        ctx.retry(exc=e, delay=0.1)


def _stubborn_body(ctx: pgqueue.Context, seconds: float) -> None:
    """Runs ``seconds`` without looking at ``ctx.cancelled``, refreshing its exec_log row's
    finished_at every 20 ms: finished_at is its last sign of life, so an attempt whose
    process was killed still has a bounded interval to check overlaps against."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO exec_log (job_id, attempt, pid, started_at, finished_at) "
            "VALUES (%s, %s, %s, clock_timestamp(), clock_timestamp()) RETURNING id",
            (ctx.job.id, ctx.attempt, os.getpid()),
        ).fetchone()
        assert row is not None
        while time.monotonic() < deadline:
            time.sleep(0.02)  # the task's own work, not a synchronisation
            conn.execute("UPDATE exec_log SET finished_at = clock_timestamp() WHERE id = %s", (row[0],))


@app.task(name="t.stubborn", bind=True, max_attempts=3, backoff=lambda attempt: 0.0)
def stubborn(ctx: pgqueue.Context, seconds: float) -> None:
    """A sync body that never checks ctx.cancelled (the issue 16 trial task)."""
    _stubborn_body(ctx, seconds)


@app.task(name="t.stubborn_timeout", bind=True, timeout=1.0, max_attempts=3, backoff=lambda attempt: 0.0)
def stubborn_timeout(ctx: pgqueue.Context, seconds: float) -> None:
    """Like t.stubborn, with a 1 s timeout it cannot honour."""
    _stubborn_body(ctx, seconds)
