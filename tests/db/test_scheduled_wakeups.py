"""Scheduled jobs announce their run_at (migration 0010), and the probe of the next due
time (pgqueue/_sql/next_due.sql) finds the earliest one whatever the backlog."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

import pgqueue
from pgqueue._worker.due import DbClock, next_due, parse_wake

from .enqueue_support import Listener

WINDOW_MS = 1000


@pytest.fixture
def listener(dsn: str) -> Iterator[Listener]:
    lst = Listener(dsn)
    yield lst
    lst.close()


def _epoch(conn: psycopg.Connection, where: str) -> float:
    sql = "SELECT extract(epoch FROM min(run_at))::float8 FROM pgqueue.jobs WHERE " + where  # noqa: S608
    row = conn.execute(sql).fetchone()  # type: ignore[call-overload]
    assert row is not None and row[0] is not None
    return float(row[0])


def _scheduled(payloads: dict[str, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in payloads:
        queue, at = parse_wake(p)
        if at is not None:
            out[queue] = at
    return out


def test_a_scheduled_insert_announces_its_earliest_run_at(
    conn: psycopg.Connection, listener: Listener
) -> None:
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, run_at) VALUES"
        " ('mail', 't', now() + interval '1 hour'), ('mail', 't', now() + interval '2 minutes'),"
        " ('mail', 't', now()), ('other', 't', now() + interval '3 days')"
    )
    got = listener.drain()
    assert got["mail"] == 1  # the due job: the bare queue name, as before
    assert "other" not in got
    at = _scheduled(got)
    assert sorted(at) == ["mail", "other"]
    assert at["mail"] == pytest.approx(_epoch(conn, "queue = 'mail' AND run_at > now()"), abs=1e-5)
    assert at["other"] == pytest.approx(_epoch(conn, "queue = 'other'"), abs=1e-5)
    assert len(got) == 3  # one per statement and queue, never one per row


def test_a_quiet_delayed_enqueue_owes_a_wakeup_naming_the_earliest_run_at(
    conn: psycopg.Connection, listener: Listener, dsn: str
) -> None:
    with pgqueue.App(dsn=dsn, wake_window_ms=WINDOW_MS, wake_burst=1) as app:

        @app.task(name="mail.send", queue="emails")
        def send(n: int) -> int:
            return n

        first = send.configure(delay=600).enqueue(1)  # takes the token: wakes in its commit
        later = send.configure(delay=900).enqueue(2)  # quiet, owed
        sooner = send.configure(delay=300).enqueue(3)  # quiet, owed: the earlier moment
        note = next(listener.conn.notifies(timeout=30))
        first_at = _epoch(conn, f"id = {first.id}")
        assert parse_wake(note.payload) == ("emails", pytest.approx(first_at, abs=1e-5))
        app.wakeups.flush()
        owed = _scheduled(listener.drain())
        # Quiet only if the two came within the window (a slow box gives them their own).
        if app.wakeups.sent:
            assert owed == {"emails": pytest.approx(_epoch(conn, f"id = {sooner.id}"), abs=1e-5)}
        assert later.id  # enqueued either way


def test_next_due_finds_the_earliest_run_at_across_priorities(conn: psycopg.Connection) -> None:
    clock = DbClock()
    assert next_due(conn, ["default"], clock) is None
    conn.execute("INSERT INTO pgqueue.jobs (task) SELECT 't' FROM generate_series(1, 500)")  # due backlog
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, priority, run_at) VALUES"
        " ('default', 't', 10, now() + interval '70 minutes'),"
        " ('default', 't', 0, now() + interval '60 minutes'),"
        " ('default', 't', -10, now() + interval '50 minutes'),"
        " ('elsewhere', 't', 0, now() + interval '1 minute')"
    )
    seconds = next_due(conn, ["default", "none"], clock)
    assert seconds is not None and 2990 < seconds <= 3000  # priority -10's, 50 minutes
    offset = clock.offset()
    assert offset is not None  # same host: the database's clock is this one
    assert abs(offset - (time.time() - time.monotonic())) < 1.0
    assert next_due(conn, ["elsewhere"]) == pytest.approx(60, abs=10)
