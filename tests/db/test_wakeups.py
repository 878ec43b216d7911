"""Wake-ups of single enqueues on pgqueue's own pool: a NOTIFY in the enqueue's own commit
while the queue's wake-ups stay under the rate limit (a burst, then one per window), every
other job woken by a NOTIFY sent after its commit (pgqueue._wake, migration 0006)."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue.errors import ConfigurationError
from tests.helpers import wait_for

from .enqueue_support import Listener, count_jobs

WINDOW_MS = 1000


@pytest.fixture
def listener(dsn: str) -> Iterator[Listener]:
    lst = Listener(dsn)
    yield lst
    lst.close()


def make_app(dsn: str, **settings: Any) -> pgqueue.App:
    settings.setdefault("wake_burst", 1)  # one wake-up per window: the simplest rate limit
    app = pgqueue.App(dsn=dsn, **settings)

    @app.task(name="mail.send", queue="emails")
    def send(n: int) -> int:
        return n

    return app


def test_a_burst_sends_one_wakeup_in_its_commit_and_one_after_the_last_job(
    dsn: str, listener: Listener
) -> None:
    with make_app(dsn, wake_window_ms=WINDOW_MS) as app:
        send = app.tasks["mail.send"]
        started = time.monotonic()
        jobs = [send.enqueue(i) for i in range(20)]
        elapsed = time.monotonic() - started
        early = listener.drain()
        if elapsed < 0.9 * WINDOW_MS / 1000:  # the trailing wake-up is not due yet
            assert early == {"emails": 1}
        # The owed wake-up arrives on its own, after every job of the burst committed.
        note = next(listener.conn.notifies(timeout=10 * WINDOW_MS / 1000))
        assert note.payload == "emails"
        assert count_jobs(dsn, "id = ANY(%s)", ([j.id for j in jobs],)) == 20
    windows = math.ceil(elapsed / (WINDOW_MS / 1000)) + 1
    total = early["emails"] + 1 + listener.drain()["emails"]
    assert 2 <= total <= 2 * windows  # never one per job
    assert app.wakeups.sent >= 1


def test_close_sends_the_owed_wakeups_at_once(dsn: str, listener: Listener) -> None:
    app = make_app(dsn, wake_window_ms=WINDOW_MS)
    send = app.tasks["mail.send"]
    send.enqueue(1)
    send.enqueue(2)
    send.enqueue(3)
    app.close()  # well inside the window: the owed wake-up goes now, not a second later
    assert app.wakeups.sent == 1
    assert listener.drain() == {"emails": 2}


def test_window_zero_sends_one_wakeup_per_enqueue(dsn: str, listener: Listener) -> None:
    with make_app(dsn, wake_window_ms=0) as app:
        for i in range(5):
            app.tasks["mail.send"].enqueue(i)
        assert listener.drain() == {"emails": 5}
    assert app.wakeups.sent == 0


def test_enqueues_in_the_callers_transaction_are_never_quiet(dsn: str, listener: Listener) -> None:
    with make_app(dsn, wake_window_ms=WINDOW_MS) as app:
        send = app.tasks["mail.send"]
        send.enqueue(0)  # a wake-up left just now: own-pool enqueues would be quiet
        with psycopg.connect(dsn) as conn:
            for i in range(3):
                with conn.transaction():
                    send.configure(conn=conn).enqueue(i)
            with pytest.raises(RuntimeError), conn.transaction():
                send.configure(conn=conn).enqueue(99)
                raise RuntimeError("roll back")
        assert listener.drain() == {"emails": 4}  # the rollback sent nothing
    assert app.wakeups.sent == 0


def test_unique_enqueues_are_never_quiet(dsn: str, listener: Listener) -> None:
    with make_app(dsn, wake_window_ms=WINDOW_MS) as app:
        send = app.tasks["mail.send"]
        send.enqueue(0)
        send.configure(unique_key="k1").enqueue(1)
        assert listener.drain() == {"emails": 2}
    assert app.wakeups.sent == 0


def test_queues_are_debounced_separately(dsn: str, listener: Listener) -> None:
    with make_app(dsn, wake_window_ms=WINDOW_MS) as app:
        send = app.tasks["mail.send"]
        send.enqueue(1)
        send.configure(queue="reports").enqueue(2)
        send.configure(queue="reports").enqueue(3)
        app.close()
        assert listener.drain() == {"emails": 1, "reports": 2}


def test_async_enqueues_are_debounced_too(dsn: str, listener: Listener) -> None:
    app = make_app(dsn, wake_window_ms=WINDOW_MS)

    async def main() -> None:
        for i in range(5):
            await app.tasks["mail.send"].enqueue_async(i)
        await app.aclose()

    asyncio.run(main())
    assert app.wakeups.sent == 1
    assert listener.drain() == {"emails": 2}
    assert count_jobs(dsn) == 5


def test_a_forked_child_sends_its_own_wakeups_and_leaves_the_parents_alone(
    dsn: str, listener: Listener
) -> None:
    app = make_app(dsn, wake_window_ms=300)
    send = app.tasks["mail.send"]
    send.enqueue(1)
    send.enqueue(2)
    wait_for(lambda: app.wakeups.sent == 1)  # the sender thread and its connection exist
    send.enqueue(3)  # owed again at the fork
    app._pool.close()  # pgqueue's pool is not fork-safe (documented); the sender must be
    pid = os.fork()
    if pid == 0:  # the child: nothing owed, its own thread and connection
        code = 1
        try:
            child = app.tasks["mail.send"]
            child.enqueue(10)
            child.enqueue(11)
            app.close()
            code = 0 if app.wakeups.sent == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    app.close()  # the parent's sender connection survived the child
    assert app.wakeups.sent == 2
    assert listener.drain() == {"emails": 5}  # parent: 1 + 2 owed; child: 1 + 1 owed
    assert count_jobs(dsn) == 5


def test_a_stream_slower_than_the_window_wakes_in_every_commit(dsn: str, listener: Listener) -> None:
    window_s = 0.05
    with make_app(dsn, wake_window_ms=int(window_s * 1000)) as app:
        for i in range(5):
            app.tasks["mail.send"].enqueue(i)
            time.sleep(1.2 * window_s)  # the stream's pace (not a synchronisation)
        assert listener.drain() == {"emails": 5}
    assert app.wakeups.sent == 0  # nobody waited for a trailing wake-up


def test_a_burst_up_to_wake_burst_wakes_in_every_commit(dsn: str, listener: Listener) -> None:
    with make_app(dsn, wake_window_ms=WINDOW_MS, wake_burst=4) as app:
        send = app.tasks["mail.send"]
        started = time.monotonic()
        for i in range(4):
            send.enqueue(i)
        if time.monotonic() - started < 0.9 * WINDOW_MS / 1000:  # no token came back meanwhile
            assert app.wakeups.quiet("emails") is True  # the fifth would be quiet
        assert listener.drain() == {"emails": 4}
    assert app.wakeups.sent == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("wake_window_ms", -1),
        ("wake_window_ms", 1001),
        ("wake_window_ms", 2.5),
        ("wake_window_ms", True),
        ("wake_burst", 0),
        ("wake_burst", 1001),
    ],
)
def test_bad_wake_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=field):
        pgqueue.App(dsn="postgresql://unused", **{field: value})


def test_the_sender_survives_a_failed_send_and_tries_again(dsn: str, listener: Listener) -> None:
    from pgqueue._wake import Wakeups

    attempts: list[int] = []

    def flaky_dsn() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the first connection attempt fails")
        return dsn

    wakeups = Wakeups(flaky_dsn, 0.05)
    assert wakeups.quiet("emails") is False  # the caller's own insert notifies
    assert wakeups.quiet("emails") is True
    wakeups.owe("emails")
    wait_for(lambda: wakeups.sent == 1, timeout=10)  # failed once, sent on the retry
    assert len(attempts) == 2
    assert listener.drain() == {"emails": 1}
    wakeups.flush()
