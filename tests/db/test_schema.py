"""The schema on its own: defaults, CHECK constraints, the wake-up trigger."""

from __future__ import annotations

import psycopg
import pytest


def test_hand_written_insert_is_a_valid_queued_job(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO pgqueue.jobs (task, args) VALUES ('send_welcome', '[42]')")
    row = conn.execute(
        "SELECT queue, priority, state, attempt, max_attempts, run_at <= now(), args, kwargs,"
        " finished_at FROM pgqueue.jobs"
    ).fetchone()
    assert row == ("default", 0, "queued", 0, 5, True, [42], {}, None)


@pytest.mark.parametrize(
    "column, value",
    [
        ("queue", "bad queue"),
        ("queue", ""),
        ("queue", "x" * 129),
        ("queue", "emails;drop"),
        ("queue", "émails"),
        ("task", ""),
        ("task", "t" * 256),
        ("task", "a'b"),
        ("state", "finished"),
        ("max_attempts", 0),
        ("attempt", -1),
        ("args", {"not": "an array"}),
        ("kwargs", [1, 2]),
    ],
)
def test_bad_rows_are_refused(conn: psycopg.Connection, column: str, value: object) -> None:
    from psycopg import sql
    from psycopg.types.json import Jsonb

    param = Jsonb(value) if column in ("args", "kwargs") else value
    stmt = sql.SQL("INSERT INTO pgqueue.jobs (task, {}) VALUES ('ok_task', %s)").format(
        sql.Identifier(column)
    )
    if column == "task":
        stmt = sql.SQL("INSERT INTO pgqueue.jobs (task) VALUES (%s)")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(stmt, [param])
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (0,)


def test_terminal_state_needs_finished_at(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO pgqueue.jobs (task, state) VALUES ('t', 'succeeded')")
    conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, finished_at) VALUES ('t', 'succeeded', now())"
    )


def _drain(listener: psycopg.Connection) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=0.5)]


def test_insert_notifies_once_per_queue_and_rollback_notifies_nobody(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as listener, psycopg.connect(dsn) as writer:
        listener.execute("LISTEN pgqueue_jobs")
        with writer.transaction():
            writer.execute(
                "INSERT INTO pgqueue.jobs (task, queue) "
                "SELECT 't', CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 500) i"
            )
            writer.execute("INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', 'a')")
        assert sorted(_drain(listener)) == ["a", "b"]

        with pytest.raises(RuntimeError), writer.transaction():
            writer.execute("INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', 'c')")
            raise RuntimeError("roll back")
        assert _drain(listener) == []

        with writer.transaction():
            writer.execute(
                "INSERT INTO pgqueue.jobs (task, queue, run_at)"
                " VALUES ('t', 'later', now() + interval '1 hour')"
            )
        later = _drain(listener)  # no claim now: the run_at, for the workers' timers (0010)
        assert [p.split(" ")[0] for p in later] == ["later"] and len(later[0].split(" ")) == 2
