"""Single enqueue on a real database: what is stored, wake-ups, and refused input."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue._worker.due import parse_wake
from pgqueue.errors import InvalidName, InvalidOption, InvalidPayload, UnknownTask

from .enqueue_support import Listener, count_jobs, table_snapshot


@pytest.fixture
def listener(dsn: str) -> Iterator[Listener]:
    lst = Listener(dsn)
    yield lst
    lst.close()


def make_app(dsn: str, **kwargs: Any) -> pgqueue.App:
    app = pgqueue.App(dsn=dsn, **kwargs)

    @app.task(name="emails.send", queue="emails", priority=pgqueue.LOW, max_attempts=3, tags=["mail"])
    def send(user_id: int, greeting: str = "hi") -> dict[str, Any]:
        return {"sent": user_id, "greeting": greeting}

    return app


def test_enqueue_writes_the_row_with_task_defaults(dsn: str) -> None:
    with make_app(dsn) as app:
        send = app.tasks["emails.send"]
        job = send.enqueue(42, greeting="hello")
        assert isinstance(job, pgqueue.Job)
        assert job.state is pgqueue.JobState.QUEUED
        row = job.refresh().row
        assert (row.queue, row.task, row.args, row.kwargs) == (
            "emails", "emails.send", [42], {"greeting": "hello"}
        )
        assert (row.priority, row.max_attempts, row.tags, row.attempt) == (-10, 3, ["mail"], 0)
        assert row.unique_key is None
        with psycopg.connect(dsn) as conn:
            run_at, created = conn.execute(
                "SELECT run_at, created_at FROM pgqueue.jobs WHERE id = %s", (job.id,)
            ).fetchone() or (None, None)
        assert run_at == created  # "now", the column default's time


def test_direct_call_runs_in_process_and_writes_nothing(dsn: str) -> None:
    with make_app(dsn) as app:
        assert app.tasks["emails.send"](7) == {"sent": 7, "greeting": "hi"}
    assert count_jobs(dsn) == 0


def test_configure_overrides_every_enqueue_option(dsn: str) -> None:
    with make_app(dsn) as app:
        send = app.tasks["emails.send"]
        job = send.configure(
            queue="vip", priority=pgqueue.HIGH, max_attempts=9, tags=["a", 'q"uote'], delay=3600
        ).enqueue(1)
        row = job.row
        assert (row.queue, row.priority, row.max_attempts, row.tags) == ("vip", 10, 9, ["a", 'q"uote'])
        with psycopg.connect(dsn) as conn:
            (gap,) = conn.execute(
                "SELECT extract(epoch FROM run_at - created_at) FROM pgqueue.jobs WHERE id = %s",
                (job.id,),
            ).fetchone() or (None,)
        assert 3599 <= float(gap) <= 3660  # counted on the database clock
        when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert send.configure(run_at=when).enqueue(2).row.run_at == when
        assert send.configure(delay=timedelta(0)).enqueue(3).row.run_at <= datetime.now(UTC)


def test_app_enqueue_by_name(dsn: str) -> None:
    with make_app(dsn) as app:
        job = app.enqueue("emails.send", args=(5,), kwargs={"greeting": "yo"}, priority=3)
        row = job.row
        assert (row.task, row.queue, row.args, row.kwargs, row.priority) == (
            "emails.send", "emails", [5], {"greeting": "yo"}, 3
        )
        # a name this process does not import: the settings' defaults
        other = app.enqueue("billing.charge", args=[1, 2]).row
        assert (other.task, other.queue, other.max_attempts) == ("billing.charge", "default", 5)
        with pytest.raises(InvalidPayload, match="cannot take these arguments"):
            app.enqueue("emails.send", kwargs={"nope": 1})


def test_strict_app_refuses_unknown_task_names(dsn: str) -> None:
    with make_app(dsn, strict=True) as app:
        before = table_snapshot(dsn)
        with pytest.raises(UnknownTask) as err:
            app.enqueue("billing.charge", args=[1])
        assert isinstance(err.value, LookupError) and isinstance(err.value, pgqueue.PgQueueError)
        assert "emails.send" in str(err.value)
        assert table_snapshot(dsn) == before
        assert app.enqueue("emails.send", args=[1]).state is pgqueue.JobState.QUEUED


def test_enqueue_async_uses_an_async_pool(dsn: str) -> None:
    app = make_app(dsn)
    send = app.tasks["emails.send"]

    async def main() -> list[int]:
        jobs = await asyncio.gather(*(send.enqueue_async(i) for i in range(20)))
        by_name = await app.enqueue_async("emails.send", args=(99,))
        await app.aclose()
        return [j.id for j in [*jobs, by_name]]

    ids = asyncio.run(main())
    assert len(set(ids)) == 21

    async def on_another_loop() -> int:
        async with app:  # closes the pool before this loop ends
            return (await send.enqueue_async(100)).id

    assert asyncio.run(on_another_loop()) not in ids  # a new loop gets a pool of its own
    assert count_jobs(dsn) == 22


# --- wake-ups ------------------------------------------------------------------------------


def test_each_enqueue_wakes_its_queue_once(dsn: str, listener: Listener) -> None:
    with make_app(dsn) as app:
        app.tasks["emails.send"].enqueue(1)
        app.enqueue("other", queue="reports")
        assert listener.drain() == {"emails": 1, "reports": 1}


def test_future_run_at_wakes_no_one_now_and_names_its_run_at(dsn: str, listener: Listener) -> None:
    with make_app(dsn) as app:
        app.tasks["emails.send"].configure(delay=600).enqueue(1)
        app.tasks["emails.send"].configure(run_at=datetime.now(UTC) + timedelta(hours=1)).enqueue(2)
        got = listener.drain()
        # No claim now: a scheduled wake-up, "<queue> <run_at>" (0010), each in its commit
        # or owed by the wake-up limiter.
        assert got and all(parse_wake(p)[1] is not None for p in got)
        assert count_jobs(dsn) == 2


def test_plain_sql_insert_wakes_workers(dsn: str, listener: Listener) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO pgqueue.jobs (task, args) VALUES ('send_welcome', '[42]')")
        conn.execute(
            "INSERT INTO pgqueue.jobs (task, queue) SELECT 'x', 'bulk' FROM generate_series(1, 50)"
        )
    assert listener.drain() == {"default": 1, "bulk": 1}


# --- refused input: a clear error, and the table unchanged ---------------------------------


class Opaque:
    pass


BAD_ENQUEUES: dict[str, tuple[type[Exception], type[Exception], Callable[[pgqueue.App], Any]]] = {
    "set": (InvalidPayload, TypeError, lambda app: app.tasks["emails.send"].enqueue({1, 2})),
    "bytes": (InvalidPayload, TypeError, lambda app: app.tasks["emails.send"].enqueue(b"x")),
    "object": (InvalidPayload, TypeError, lambda app: app.tasks["emails.send"].enqueue(Opaque())),
    "nan": (InvalidPayload, TypeError, lambda app: app.tasks["emails.send"].enqueue(math.nan)),
    "infinity": (InvalidPayload, TypeError, lambda app: app.enqueue("x", args=[math.inf])),
    "nested nan": (InvalidPayload, TypeError, lambda app: app.enqueue("x", kwargs={"a": [math.nan]})),
    "NUL in a string": (InvalidPayload, TypeError, lambda app: app.enqueue("x", args=["a\x00b"])),
    "lone surrogate": (InvalidPayload, TypeError, lambda app: app.enqueue("x", args=["\ud800"])),
    "wrong arity": (InvalidPayload, TypeError, lambda app: app.tasks["emails.send"].enqueue(1, 2, 3)),
    "oversize": (
        pgqueue.PayloadTooLarge, ValueError, lambda app: app.enqueue("x", args=["a" * 1024 * 1024])
    ),
    "bad queue": (InvalidName, ValueError, lambda app: app.enqueue("x", queue="no spaces")),
    "long queue": (InvalidName, ValueError, lambda app: app.enqueue("x", queue="q" * 129)),
    "bad task name": (InvalidName, ValueError, lambda app: app.enqueue("bad name!", args=[1])),
    "priority high": (InvalidOption, ValueError, lambda app: app.enqueue("x", priority=32768)),
    "priority low": (InvalidOption, ValueError, lambda app: app.enqueue("x", priority=-32769)),
    "priority bool": (InvalidOption, ValueError, lambda app: app.enqueue("x", priority=True)),
    "negative delay": (InvalidOption, ValueError, lambda app: app.enqueue("x", delay=-1)),
    "nan delay": (InvalidOption, ValueError, lambda app: app.enqueue("x", delay=math.nan)),
    "naive run_at": (
        InvalidOption, ValueError, lambda app: app.enqueue("x", run_at=datetime(2030, 1, 1))
    ),
    "delay and run_at": (
        InvalidOption, ValueError,
        lambda app: app.enqueue("x", delay=1, run_at=datetime.now(UTC)),
    ),
    "max_attempts 0": (InvalidOption, ValueError, lambda app: app.enqueue("x", max_attempts=0)),
    "tags as str": (InvalidOption, ValueError, lambda app: app.enqueue("x", tags="abc")),
    "empty unique key": (InvalidOption, ValueError, lambda app: app.enqueue("x", unique_key="")),
    "unknown option": (InvalidOption, ValueError, lambda app: app.enqueue("x", prio=1)),
    "unknown configure option": (
        InvalidOption, ValueError, lambda app: app.tasks["emails.send"].configure(retries=3)
    ),
    "unsupported conn": (
        pgqueue.errors.UnsupportedConnection, TypeError, lambda app: app.enqueue("x", conn=object())
    ),
}


def test_bad_input_is_refused_and_writes_nothing(dsn: str) -> None:
    # One database for all cases: each case must leave the table exactly as it was.
    with make_app(dsn) as app:
        app.enqueue("x")  # something in the table, so "unchanged" means something
        before = table_snapshot(dsn)
        for case, (error, builtin, call) in BAD_ENQUEUES.items():
            with pytest.raises(error) as info:
                call(app)
            assert isinstance(info.value, pgqueue.PgQueueError), case
            assert isinstance(info.value, builtin), case
            assert str(info.value), case  # says what to fix
            assert table_snapshot(dsn) == before, case


def test_payload_cap_is_configurable(dsn: str) -> None:
    with pgqueue.App(dsn=dsn, max_payload_bytes=64) as app:
        app.enqueue("x", args=["a" * 50])
        with pytest.raises(pgqueue.PayloadTooLarge, match="64-byte cap"):
            app.enqueue("x", args=["a" * 60])
    assert count_jobs(dsn) == 1
