"""Tasks for the process pool tests (``tests.worker.proc_app:app``), run by ``pgqueue work
--pool process`` or pinned with ``pool="process"``. Each execution is recorded in
``exec_log`` like tests.worker.tasks_app's."""

from __future__ import annotations

import os
import time

import psycopg

import pgqueue
from tests.worker.tasks_app import _stubborn_body

app = pgqueue.App()  # PGQUEUE_DSN names the test's database

_LEAK: list[bytes] = []


@app.task(name="p.stubborn", bind=True, max_attempts=3, backoff=lambda attempt: 0.0)
def stubborn(ctx: pgqueue.Context, seconds: float) -> None:
    """Never checks ctx.cancelled; its exec_log row's finished_at is its last sign of life."""
    _stubborn_body(ctx, seconds)


@app.task(name="p.hard_timeout", bind=True, timeout=1.0, max_attempts=3, backoff=lambda attempt: 0.0)
def hard_timeout(ctx: pgqueue.Context, seconds: float) -> None:
    _stubborn_body(ctx, seconds)


@app.task(name="p.soft_timeout", bind=True, soft_timeout=0.5, timeout=20.0, max_attempts=1, pool="process")
def soft_timeout(ctx: pgqueue.Context, seconds: float) -> None:
    """Catches the soft limit's TimeoutError, records it, and re-raises."""
    try:
        _stubborn_body(ctx, seconds)
    except TimeoutError as exc:
        with psycopg.connect(app.dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO exec_log (job_id, attempt, pid, started_at, finished_at) "
                "VALUES (%s, -1, %s, clock_timestamp(), clock_timestamp())",
                (ctx.job.id, os.getpid()),
            )
        raise exc


@app.task(name="p.pid", pool="process")
def pid() -> int:
    return os.getpid()


@app.task(name="p.leak", pool="process")
def leak(mb: int) -> int:
    """Keeps ``mb`` MB referenced for the life of the process (a leak), returns the pid."""
    _LEAK.append(b"\x01" * (mb * 1_000_000))
    return os.getpid()


@app.task(name="p.noop", store_result=False)
def noop() -> None:
    return None


@app.task(name="p.exit", pool="process", max_attempts=2, backoff=lambda attempt: 0.0, bind=True)
def hard_exit(ctx: pgqueue.Context) -> str:
    """os._exit on the first attempt (a crash the worker must survive)."""
    if ctx.attempt == 1:
        os._exit(3)
    return "ok"


@app.task(name="p.sleep", pool="process")
def sleep(seconds: float) -> float:
    time.sleep(seconds)  # the task's own work
    return seconds
