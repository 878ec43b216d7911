"""Helpers for your own test suite: run jobs inline, drain a queue, assert an enqueue.

They use the real database (the one your App points at) and the worker's own claim,
run and complete code, so a job behaves as in production: retries, dead letters,
stored results and fencing included, without starting a worker.

    job = send_welcome.enqueue(42)
    pgqueue.testing.run_job(job)            # runs it now, in this thread
    assert job.result(timeout=0) == {"sent": True}

Async tasks run with ``asyncio.run``, so call these helpers outside a running event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import class_row

from ._sql import query
from ._worker import claims
from ._worker.completer import write_batch
from ._worker.execution import Execution
from ._worker.outcome import OUTCOMES, Outcome
from .app import App
from .job import Job, JobRow, JobState
from .task import Task

LEASE_S = 300.0
"""Inline runs hold the job this long; a test that dies mid-job leaves it to the rescuer."""


@dataclass
class DrainResult:
    """What :func:`drain` did: job ids by the outcome of the attempt it ran (one list
    per outcome kind, named as in :class:`pgqueue.WorkerStats`)."""

    succeeded: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    snoozed: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    handed_back: list[int] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return sum(len(getattr(self, info.stat)) for info in OUTCOMES.values())


def run_job(job: Job) -> Job:
    """Claim ``job`` (if queued, even when scheduled for later), run it in this thread,
    write its outcome, and return the refreshed job.

    One attempt: a failing job is left queued for its retry (or dead). A job past its
    ``expires`` time is ended ``cancelled`` without running, as a worker's claim does.
    Raises AssertionError when the job is not queued.
    """
    worker_id = uuid.uuid4()
    with job.app.pool.connection() as conn:
        before = job.refresh().state
        row = claims.claim_job(conn, worker_id, job.id, LEASE_S)
    if row is None:
        if before is JobState.QUEUED and job.refresh().state is JobState.CANCELLED:
            return job  # expired at this claim
        raise AssertionError(f"job {job.id} is not queued (state {job.refresh().state.value})")
    app = job.app
    if not isinstance(app, App):
        raise TypeError(f"run_job needs a job of a pgqueue.App, got one of {type(app).__name__}")
    _run_and_write(app, row, worker_id)
    return job.refresh()


def drain(app: App, queues: Sequence[str] | None = None, *, max_jobs: int | None = None) -> DrainResult:
    """Run due jobs of ``queues`` (default: every queue of the app's tasks and the default
    queue) one by one in this thread until none is due, in claim order.

    Retries scheduled for later are not waited for (call again, or use ``run_job``).
    ``max_jobs`` bounds the number of attempts (a task that always snoozes for 0 s
    would otherwise never let ``drain`` return).
    """
    names = (
        list(queues)
        if queues
        else sorted({t.options.queue for t in app.tasks.values()} | {app.settings.default_queue})
    )
    worker_id = uuid.uuid4()
    result = DrainResult()
    while max_jobs is None or result.ran < max_jobs:
        with app.pool.connection() as conn:
            rows = claims.claim(conn, worker_id, names, 1, LEASE_S)
        if not rows:
            break
        outcome = _run_and_write(app, rows[0], worker_id)
        getattr(result, outcome.kind.info.stat).append(rows[0].id)
    return result


@dataclass(frozen=True, slots=True)
class EnqueuedRow:
    """A row of testing_enqueued.sql: a queued job of the task asked about."""

    id: int
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str


def assert_enqueued(
    app: App,
    task: Task[Any, Any] | str,
    *,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    count: int | None = None,
) -> list[Job]:
    """Assert that queued (or scheduled) jobs of ``task`` exist, optionally with exactly
    these ``args``/``kwargs``/``queue``, and exactly ``count`` of them; returns them.

    Raises AssertionError listing what is queued instead.
    """
    name = task if isinstance(task, str) else task.name
    with app.pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(EnqueuedRow))
        rows = cur.execute(query("testing_enqueued"), {"task": name}).fetchall()
    matching = [
        r
        for r in rows
        if (args is None or r.args == list(args))
        and (kwargs is None or r.kwargs == kwargs)
        and (queue is None or r.queue == queue)
    ]
    wanted = f"task {name!r}" + "".join(
        f" {k}={v!r}" for k, v in (("args", args), ("kwargs", kwargs), ("queue", queue)) if v is not None
    )
    if (count is None and not matching) or (count is not None and len(matching) != count):
        found = ", ".join(f"#{r.id} args={r.args} kwargs={r.kwargs} queue={r.queue}" for r in rows) or "none"
        expected = "at least one" if count is None else str(count)
        raise AssertionError(f"expected {expected} queued job(s) of {wanted}; queued of that task: {found}")
    return [Job(app, r.id) for r in matching]


def _run_and_write(app: App, row: JobRow, worker_id: uuid.UUID) -> Outcome:
    ex = Execution(app, row, app.tasks.get(row.task), worker_id)
    try:
        value = ex.call()
        if inspect.iscoroutine(value):
            value = asyncio.run(value)
        outcome = ex.success(value)
    except Exception as exc:
        outcome = ex.failure(exc)
    with app.pool.connection() as conn:
        _write(conn, worker_id, outcome)
    return outcome


def _write(conn: psycopg.Connection[Any], worker_id: uuid.UUID, outcome: Outcome) -> None:
    if outcome.written:
        return  # a transactional task's success, committed with its own writes
    if not write_batch(conn, worker_id, [outcome]):
        raise AssertionError(f"job {outcome.job_id} changed while it ran inline (fenced out)")
