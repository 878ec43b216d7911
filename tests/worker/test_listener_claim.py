"""An idle worker claims for a NOTIFY on the listener's own thread and connection, and
hands over to the producer whenever there may be more to do.

The workers here poll once an hour: only a NOTIFY can explain a claim during a test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import psycopg
import pytest
from psycopg import sql

import pgqueue
from pgqueue._admin.control import CONTROL_CHANNEL
from pgqueue._settings import NOTIFY_CHANNEL
from pgqueue._worker.listener import Listener
from tests.helpers import wait_for
from tests.worker.conftest import succeeded

NO_POLL = 3600.0


@pytest.fixture
def claim_threads(task_app: ModuleType) -> Iterator[tuple[list[str], Any]]:
    """The thread of every ``claimed`` event, and a factory of started workers."""
    threads: list[str] = []
    started: list[pgqueue.Worker] = []

    def on_event(event: Any) -> None:
        if event.kind == "claimed":
            threads.append(threading.current_thread().name)

    def make(**kw: Any) -> pgqueue.Worker:
        w = pgqueue.Worker(task_app.app, poll_interval=NO_POLL, on_event=on_event, **kw)
        w.start()
        started.append(w)
        assert w.notifier is not None
        assert w.notifier.wait_connected(10)  # a NOTIFY from now on reaches it
        return w

    yield threads, make
    for w in started:
        w.stop(timeout=5)


def test_an_idle_worker_starts_jobs_on_the_notify_alone(
    task_app: ModuleType, dsn: str, conn: psycopg.Connection, claim_threads: tuple[list[str], Any]
) -> None:
    threads, make = claim_threads
    make(concurrency=4)
    for n in range(5):
        with psycopg.connect(dsn) as tx:  # the NOTIFY goes out with this commit
            job = task_app.add.configure(conn=tx).enqueue(n, 1)
        wait_for(lambda j=job.id: succeeded(conn, j), timeout=30)
        assert task_app.app.job(job.id).result(timeout=5) == n + 1
    assert len(threads) == 5
    # The producer thread may happen to be awake (e.g. after writing the previous
    # outcome) when a NOTIFY arrives; then it claims. Parked, it leaves it to the listener.
    assert "pgqueue-listen" in threads


def test_a_notify_for_more_jobs_than_free_slots_runs_them_all(
    task_app: ModuleType, dsn: str, conn: psycopg.Connection, claim_threads: tuple[list[str], Any]
) -> None:
    _threads, make = claim_threads
    worker = make(concurrency=2)
    with psycopg.connect(dsn) as tx:  # seven jobs, one commit, one NOTIFY
        jobs = [task_app.add.configure(conn=tx).enqueue(n, n) for n in range(7)]
    for job in jobs:
        wait_for(lambda j=job.id: succeeded(conn, j), timeout=30)
    assert worker.stats.claimed == 7


def test_a_stopping_worker_hands_back_nothing_claimed_by_the_listener(
    task_app: ModuleType, dsn: str, conn: psycopg.Connection, claim_threads: tuple[list[str], Any]
) -> None:
    _threads, make = claim_threads
    worker = make(concurrency=2)
    with psycopg.connect(dsn) as tx:
        job = task_app.add.configure(conn=tx).enqueue(2, 2)
    worker.stop(timeout=5)
    row = conn.execute("SELECT state, worker_id FROM pgqueue.jobs WHERE id = %s", (job.id,)).fetchone()
    assert row is not None
    # Claimed and finished before the worker stopped, or never claimed: never left running.
    assert row[0] in ("succeeded", "queued")
    assert row[0] == "succeeded" or row[1] is None


@pytest.fixture
def listen_only_dsn(dsn: str) -> Iterator[str]:
    """A DSN for a role that may LISTEN (no grant needed) but not touch pgqueue's tables."""
    role = f"pgq_listen_{uuid.uuid4().hex[:10]}"  # roles are cluster-wide: unique name
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["user"] = role
    yield psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_listen_dsn_that_cannot_claim_leaves_claims_to_the_pool(
    task_app: ModuleType,
    dsn: str,
    conn: psycopg.Connection,
    listen_only_dsn: str,
    claim_threads: tuple[list[str], Any],
) -> None:
    threads, make = claim_threads
    make(concurrency=4, listen_dsn=listen_only_dsn)
    for n in range(3):
        with psycopg.connect(dsn) as tx:
            job = task_app.add.configure(conn=tx).enqueue(n, n)
        wait_for(lambda j=job.id: succeeded(conn, j), timeout=30)
    assert len(threads) == 3 and "pgqueue-listen" not in threads


def test_the_listener_claims_after_the_whole_batch_on_its_own_connection(dsn: str) -> None:
    calls: list[str] = []
    claimed = threading.Event()
    late_delivered = threading.Event()

    def on_wake(payload: str | None) -> bool:
        calls.append(f"wake:{payload}")
        if payload == "late":
            late_delivered.set()
        return payload == "q1"

    def on_control(payload: str) -> None:
        calls.append(f"control:{payload}")

    def on_claim(conn: psycopg.Connection[Any]) -> None:
        calls.append("claim")
        if not claimed.is_set():
            # A notification sent while the connection runs a claim is kept for later.
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("SELECT pg_notify(%s, 'late')", (NOTIFY_CHANNEL,))
            row = conn.execute("SELECT pg_sleep(0.2), 42").fetchone()
            assert row is not None and row[1] == 42
        claimed.set()

    listener = Listener(dsn, on_wake, on_control=on_control, on_claim=on_claim)
    listener.start()
    try:
        wait_for(listener.connected.is_set)
        with psycopg.connect(dsn) as tx:  # one commit: the three arrive together
            tx.execute("SELECT pg_notify(%s, 'q1')", (NOTIFY_CHANNEL,))
            tx.execute("SELECT pg_notify(%s, '{}')", (CONTROL_CHANNEL,))
            tx.execute("SELECT pg_notify(%s, 'q2')", (NOTIFY_CHANNEL,))
        assert claimed.wait(10)
        assert late_delivered.wait(10)
    finally:
        listener.stop()
    start = calls.index("wake:q1")
    assert calls[start : start + 5] == ["wake:q1", "control:{}", "wake:q2", "claim", "wake:late"]
