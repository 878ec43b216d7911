"""Lifecycle hooks and middleware, on a real in-process worker and the real database."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import pgqueue
import pgqueue.testing
from pgqueue.errors import InvalidOption
from tests.helpers import wait_for

EVENTS = (
    "job_started",
    "job_succeeded",
    "job_failed",
    "job_retried",
    "job_snoozed",
    "job_dead",
    "job_cancelled",
)


class TransientError(Exception):
    pass


def make_tasks(app: pgqueue.App, kind: str) -> dict[str, pgqueue.Task[Any, Any]]:
    """The same five behaviours as sync or ``async def`` tasks."""
    retry_fast: dict[str, Any] = {"backoff_base": 0.05, "backoff_jitter": 0.0}
    snoozed: set[int] = set()

    def _first(ctx: pgqueue.Context) -> bool:
        """True the first time a job asks (a snooze refunds the attempt, so count here)."""
        if ctx.job.id in snoozed:
            return False
        snoozed.add(ctx.job.id)
        return True

    if kind == "sync":

        @app.task(name="h.ok")
        def ok(n: int) -> dict[str, int]:
            time.sleep(0.05)
            return {"n": n}

        @app.task(name="h.flaky", bind=True, **retry_fast)
        def flaky(ctx: pgqueue.Context) -> str:
            if ctx.attempt == 1:
                raise TransientError("first attempt fails")
            return "second"

        @app.task(name="h.doomed", max_attempts=2, **retry_fast)
        def doomed() -> None:
            raise TransientError("always")

        @app.task(name="h.discard")
        def discard() -> None:
            raise pgqueue.Discard("not wanted")

        @app.task(name="h.snooze", bind=True)
        def snooze(ctx: pgqueue.Context) -> str:
            if _first(ctx):
                raise pgqueue.Snooze(0.05)
            return "woke"

    else:

        @app.task(name="h.ok")
        async def ok(n: int) -> dict[str, int]:
            await asyncio.sleep(0.05)
            return {"n": n}

        @app.task(name="h.flaky", bind=True, **retry_fast)
        async def flaky(ctx: pgqueue.Context) -> str:
            if ctx.attempt == 1:
                raise TransientError("first attempt fails")
            return "second"

        @app.task(name="h.doomed", max_attempts=2, **retry_fast)
        async def doomed() -> None:
            raise TransientError("always")

        @app.task(name="h.discard")
        async def discard() -> None:
            raise pgqueue.Discard("not wanted")

        @app.task(name="h.snooze", bind=True)
        async def snooze(ctx: pgqueue.Context) -> str:
            if _first(ctx):
                raise pgqueue.Snooze(0.05)
            return "woke"

    return {"ok": ok, "flaky": flaky, "doomed": doomed, "discard": discard, "snooze": snooze}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_each_hook_fires_once_per_transition(dsn: str, kind: str) -> None:
    app = pgqueue.App(dsn=dsn)
    tasks = make_tasks(app, kind)
    seen: list[pgqueue.JobEvent] = []
    workers: list[tuple[str, pgqueue.Worker]] = []
    for name in EVENTS:
        app.on(name)(seen.append)  # type: ignore[call-overload]
    app.on("worker_started")(lambda w: workers.append(("started", w)))
    app.on("worker_stopping")(lambda w: workers.append(("stopping", w)))

    jobs = {
        "ok": tasks["ok"].enqueue(7),
        "flaky": tasks["flaky"].enqueue(),
        "doomed": tasks["doomed"].enqueue(),
        "discard": tasks["discard"].enqueue(),
        "snooze": tasks["snooze"].enqueue(),
    }
    worker = pgqueue.Worker(app, concurrency=4, poll_interval=0.2)
    worker.start()
    try:
        for key in ("ok", "flaky", "snooze"):
            jobs[key].result(timeout=20)
        for key in ("doomed", "discard"):
            with pytest.raises(pgqueue.JobFailed):
                jobs[key].result(timeout=20)
        # The hooks of the last transition run right after its commit: wait for them.
        wait_for(lambda: sum(e.name in ("job_succeeded", "job_dead") for e in seen) == 5)
    finally:
        worker.stop(timeout=5)
        app.close()

    assert [w for w in workers] == [("started", worker), ("stopping", worker)]
    by_job = {key: [(e.name, e.job.attempt) for e in seen if e.job.id == job.id] for key, job in jobs.items()}
    assert by_job == {
        "ok": [("job_started", 1), ("job_succeeded", 1)],
        "flaky": [
            ("job_started", 1),
            ("job_failed", 1),
            ("job_retried", 1),
            ("job_started", 2),
            ("job_succeeded", 2),
        ],
        "doomed": [
            ("job_started", 1),
            ("job_failed", 1),
            ("job_retried", 1),
            ("job_started", 2),
            ("job_failed", 2),
            ("job_dead", 2),
        ],
        "discard": [("job_started", 1), ("job_failed", 1), ("job_dead", 1)],
        "snooze": [("job_started", 1), ("job_snoozed", 1), ("job_started", 1), ("job_succeeded", 1)],
    }

    def one(key: str, name: str) -> pgqueue.JobEvent:
        return next(e for e in seen if e.job.id == jobs[key].id and e.name == name)

    started = one("ok", "job_started")
    assert started.duration is None and started.exception is None
    assert started.job.task == "h.ok" and started.job.args == [7] and started.worker_id == worker.id
    succeeded = one("ok", "job_succeeded")
    assert succeeded.result == {"n": 7} and succeeded.exception is None
    assert succeeded.duration is not None and succeeded.duration >= 0.05
    failed = one("flaky", "job_failed")
    assert isinstance(failed.exception, TransientError) and failed.duration is not None
    assert failed.error == "TransientError: first attempt fails" and failed.result is None
    retried = one("flaky", "job_retried")
    assert isinstance(retried.exception, TransientError) and retried.delay == pytest.approx(0.05)
    dead = one("discard", "job_dead")
    assert isinstance(dead.exception, pgqueue.Discard) and dead.error == "Discard: not wanted"
    snoozed = one("snooze", "job_snoozed")
    assert snoozed.delay == pytest.approx(0.05) and snoozed.exception is None


def test_a_raising_hook_is_logged_and_never_breaks_the_job(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = pgqueue.App(dsn=dsn)
    tasks = make_tasks(app, "sync")
    calls: list[str] = []

    def boom(event: Any) -> None:
        calls.append(getattr(event, "name", "worker"))
        raise RuntimeError("hook is broken")

    for name in (*EVENTS, "worker_started", "worker_stopping"):
        app.on(name)(boom)  # type: ignore[call-overload]
    caplog.set_level(logging.ERROR, logger="pgqueue.hooks")
    ok = tasks["ok"].enqueue(1)
    flaky = tasks["flaky"].enqueue()
    worker = pgqueue.Worker(app, concurrency=2)
    worker.start()
    try:
        assert ok.result(timeout=20) == {"n": 1}
        assert flaky.result(timeout=20) == "second"
        wait_for(lambda: calls.count("job_succeeded") == 2)
    finally:
        worker.stop(timeout=5)
        app.close()
    assert worker.stats.succeeded == 2 and worker.stats.retried == 1 and worker.stats.dead == 0
    assert sorted(calls) == sorted(
        ["worker", "worker"]
        + ["job_started"] * 3
        + ["job_succeeded"] * 2
        + ["job_failed", "job_retried"]
    )
    broken = [r for r in caplog.records if "hook" in r.getMessage() and r.exc_info]
    assert len(broken) == len(calls)
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in broken)


tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")


def test_middleware_wraps_sync_and_async_attempts(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn)
    order: list[str] = []

    @app.middleware
    @contextlib.contextmanager
    def timing(ctx: pgqueue.Context) -> Iterator[None]:
        order.append(f"timing>{ctx.job.id}")
        try:
            yield
        finally:
            order.append(f"timing<{ctx.job.id}")

    @app.middleware
    @contextlib.contextmanager
    def tenancy(ctx: pgqueue.Context) -> Iterator[None]:
        token = tenant.set(ctx.job.row.tags[0] if ctx.job.row.tags else "anonymous")
        try:
            yield
        finally:
            tenant.reset(token)

    @app.task(name="m.whoami")
    def whoami() -> str:
        return tenant.get()

    @app.task(name="m.whoami_async", bind=True)
    async def whoami_async(ctx: pgqueue.Context) -> list[Any]:
        await asyncio.sleep(0)
        return [tenant.get(), ctx.attempt]

    sync_job = whoami.configure(tags=["acme"]).enqueue()
    async_job = whoami_async.configure(tags=["globex"]).enqueue()
    plain = whoami.enqueue()
    worker = pgqueue.Worker(app, concurrency=3)
    worker.start()
    try:
        assert sync_job.result(timeout=20) == "acme"
        assert async_job.result(timeout=20) == ["globex", 1]
        assert plain.result(timeout=20) == "anonymous"
    finally:
        worker.stop(timeout=5)
        app.close()
    for job in (sync_job, async_job, plain):
        assert order.index(f"timing>{job.id}") < order.index(f"timing<{job.id}")
    assert tenant.get() == "none"  # nothing leaked into this thread


def test_async_context_managers_wrap_async_tasks_only_and_middleware_errors_fail_attempts(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn)
    entered: list[int] = []

    @app.middleware
    def async_only(ctx: pgqueue.Context) -> Any:
        if "async" not in ctx.job.row.task:
            return contextlib.nullcontext()

        @contextlib.asynccontextmanager
        async def cm() -> AsyncIterator[None]:
            await asyncio.sleep(0)
            entered.append(ctx.job.id)
            yield

        return cm()

    @app.middleware
    @contextlib.contextmanager
    def refuse(ctx: pgqueue.Context) -> Iterator[None]:
        if ctx.job.row.kwargs.get("refuse"):
            raise PermissionError("tenant suspended")
        yield

    @app.middleware
    def broken(ctx: pgqueue.Context) -> Any:
        if ctx.job.row.kwargs.get("broken"):
            return "not a context manager"
        return contextlib.nullcontext()

    @app.task(name="m.plain", max_attempts=1)
    def plain(refuse: bool = False, broken: bool = False) -> str:
        return "ran"

    @app.task(name="m.async", max_attempts=1)
    async def in_async() -> str:
        return "ran async"

    ok = plain.enqueue()
    ok_async = in_async.enqueue()
    refused = plain.enqueue(refuse=True)
    misused = plain.enqueue(broken=True)
    pgqueue.testing.drain(app)  # middleware also wraps inline runs
    assert ok.result(timeout=0) == "ran"
    assert ok_async.result(timeout=0) == "ran async"
    assert entered == [ok_async.id]
    with pytest.raises(pgqueue.JobFailed, match="PermissionError: tenant suspended"):
        refused.result(timeout=0)
    with pytest.raises(pgqueue.JobFailed, match="not a context manager"):
        misused.result(timeout=0)
    app.close()


def test_registration_is_checked(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn)
    with pytest.raises(InvalidOption, match="unknown hook event 'job_exploded'"):
        app.on("job_exploded")(print)  # type: ignore[call-overload]

    async def async_hook(event: pgqueue.JobEvent) -> None: ...

    with pytest.raises(InvalidOption, match="async def"):
        app.on("job_failed")(async_hook)  # type: ignore[arg-type]
    with pytest.raises(InvalidOption, match="async def"):
        app.middleware(async_hook)  # type: ignore[arg-type]
    assert not app.hooks.active


def test_job_cancelled_fires_when_a_running_job_is_cancelled(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn)
    seen: list[pgqueue.JobEvent] = []
    for name in EVENTS:
        app.on(name)(seen.append)  # type: ignore[call-overload]

    @app.task(name="h.long")
    async def long() -> None:
        await asyncio.sleep(60)

    job = long.enqueue()
    worker = pgqueue.Worker(app, concurrency=1)
    worker.start()
    try:
        wait_for(lambda: any(e.name == "job_started" for e in seen), timeout=20)
        assert job.cancel()
        wait_for(lambda: any(e.name == "job_cancelled" for e in seen), timeout=20)
    finally:
        worker.stop(timeout=5)
        app.close()
    assert [e.name for e in seen] == ["job_started", "job_cancelled"]
    assert job.refresh().state == pgqueue.JobState.CANCELLED
    cancelled = seen[1]
    assert cancelled.job.id == job.id and cancelled.duration is not None and cancelled.exception is None
