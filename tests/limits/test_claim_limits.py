"""The limited claim on real Postgres, one claim at a time: allowances, markers, the
switch between the fast and the limited claim, serial keys."""

from __future__ import annotations

import uuid

import psycopg
import pytest

import pgqueue
from pgqueue._worker.claims import LIMITED_RECHECK_S, Claimer
from pgqueue.errors import InvalidOption


def add_jobs(conn: psycopg.Connection, queue: str, count: int, serial_key: str | None = None) -> None:
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, serial_key) SELECT %s, 't', %s FROM generate_series(1, %s)",
        (queue, serial_key, count),
    )


def set_limits(
    conn: psycopg.Connection,
    queue: str,
    concurrency: int | None,
    rate: int | None = None,
    period: float | None = None,
) -> None:
    conn.execute(
        "INSERT INTO pgqueue.queues (name, concurrency_limit, rate_limit, rate_period_s) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
        "concurrency_limit = excluded.concurrency_limit, rate_limit = excluded.rate_limit, "
        "rate_period_s = excluded.rate_period_s",
        (queue, concurrency, rate, period),
    )


def finish(conn: psycopg.Connection, ids: list[int]) -> None:
    conn.execute(
        "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = ANY(%s)", (ids,)
    )


def claimer(queues: list[str]) -> Claimer:
    return Claimer(uuid.uuid4(), queues, 9.0)


def test_concurrency_limit_holds_across_claimers(conn: psycopg.Connection) -> None:
    add_jobs(conn, "emails", 10)
    set_limits(conn, "emails", 3)
    first, second = claimer(["emails"]), claimer(["emails"])

    got = first.claim(conn, 10)
    # The fast claim met a limited queue, reported it, and the limited claim took over.
    assert first.limited == {"emails"}
    assert len(got) == 3
    assert first.throttled and first.retry_in == pytest.approx(LIMITED_RECHECK_S, abs=0.05)
    assert second.claim(conn, 10) == []
    assert second.throttled

    finish(conn, [got[0].id])
    assert len(second.claim(conn, 10)) == 1
    assert conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE queue = 'emails' AND state = 'running'"
    ).fetchone() == (3,)


def test_rate_limit_is_a_sliding_window_of_starts(conn: psycopg.Connection) -> None:
    add_jobs(conn, "api", 10)
    set_limits(conn, "api", None, 4, 60.0)
    c = claimer(["api"])
    assert len(c.claim(conn, 3)) == 3
    # Not throttled: the free slots, not the limit, bounded that claim.
    assert not c.throttled and c.retry_in is None
    assert len(c.claim(conn, 3)) == 1
    assert c.throttled
    assert c.retry_in == pytest.approx(60.0, abs=1.0)
    # Finishing jobs frees no room in a rate limit: starts count, not running jobs.
    finish(conn, [r[0] for r in conn.execute("SELECT id FROM pgqueue.jobs WHERE state = 'running'")])
    assert c.claim(conn, 3) == []
    assert conn.execute("SELECT sum(n) FROM pgqueue.queue_starts WHERE queue = 'api'").fetchone() == (4,)
    # The window slides: starts older than the period no longer count, and are deleted.
    conn.execute("UPDATE pgqueue.queue_starts SET started_at = started_at - interval '61 seconds'")
    assert len(c.claim(conn, 10)) == 4
    assert conn.execute("SELECT count(*), sum(n) FROM pgqueue.queue_starts").fetchone() == (1, 4)


def test_both_limits_the_tighter_wins(conn: psycopg.Connection) -> None:
    add_jobs(conn, "q", 10)
    set_limits(conn, "q", 2, 5, 60.0)
    c = claimer(["q"])
    assert len(c.claim(conn, 10)) == 2
    finish(conn, [r[0] for r in conn.execute("SELECT id FROM pgqueue.jobs WHERE state = 'running'")])
    assert len(c.claim(conn, 10)) == 2
    finish(conn, [r[0] for r in conn.execute("SELECT id FROM pgqueue.jobs WHERE state = 'running'")])
    assert len(c.claim(conn, 10)) == 1  # rate: 5 starts per minute


def test_unlimited_queues_keep_the_fast_claim_and_limits_come_and_go(conn: psycopg.Connection) -> None:
    add_jobs(conn, "fast", 5)
    add_jobs(conn, "slow", 5)
    set_limits(conn, "slow", 1)
    c = claimer(["fast", "slow"])
    jobs = c.claim(conn, 10)
    assert sorted(j.queue for j in jobs) == ["fast"] * 5 + ["slow"]
    assert c.limited == {"slow"}

    # Cleared at runtime: the next claim finds no limit to lock and hands the queue
    # back to the fast claim, in the same call.
    set_limits(conn, "slow", None)
    assert len(c.claim(conn, 10)) == 4
    assert c.limited == frozenset()


def test_paused_limited_queue_is_not_claimed(conn: psycopg.Connection) -> None:
    add_jobs(conn, "p", 3)
    set_limits(conn, "p", 5)
    conn.execute("UPDATE pgqueue.queues SET paused = true")
    c = claimer(["p"])
    assert c.claim(conn, 10) == []
    assert c.claim(conn, 10) == []
    conn.execute("UPDATE pgqueue.queues SET paused = false")
    assert len(c.claim(conn, 10)) == 3


def test_serial_key_one_at_a_time_in_id_order(conn: psycopg.Connection) -> None:
    add_jobs(conn, "default", 3, serial_key="customer:1")
    add_jobs(conn, "default", 3, serial_key="customer:2")
    add_jobs(conn, "default", 2)
    c = claimer(["default"])
    first = c.claim(conn, 10)
    assert [(j.id) for j in first] == [1, 4, 7, 8]
    assert c.claim(conn, 10) == []
    finish(conn, [4])
    assert [j.id for j in c.claim(conn, 10)] == [5]


def test_serial_key_late_commit_of_a_lower_id_never_overlaps(conn: psycopg.Connection) -> None:
    add_jobs(conn, "default", 1, serial_key="k")  # id 1
    add_jobs(conn, "default", 1, serial_key="k")  # id 2
    c = claimer(["default"])
    [running] = c.claim(conn, 10)
    assert running.id == 1
    # A lower id becoming live again while a later job of its key runs (an operator's
    # retry, or a transaction that committed late) waits for the running one.
    finish(conn, [1])
    [second] = c.claim(conn, 10)
    assert second.id == 2
    conn.execute("UPDATE pgqueue.jobs SET state = 'queued', finished_at = NULL WHERE id = 1")
    assert c.claim(conn, 10) == []


def test_the_database_refuses_two_running_jobs_of_one_key(conn: psycopg.Connection) -> None:
    add_jobs(conn, "default", 2, serial_key="k")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "UPDATE pgqueue.jobs SET state = 'running', worker_id = gen_random_uuid(), "
            "lease_expires_at = now()"
        )


def test_serial_key_enqueue_paths(app: pgqueue.App, conn: psycopg.Connection) -> None:
    @app.task(name="s.work", queue="default")
    def work(n: int) -> int:
        return n

    one = work.configure(serial_key="customer:42").enqueue(1)
    many = work.configure(serial_key="customer:42").enqueue_many([(2,), (3,)])
    unique = work.configure(serial_key="customer:42", unique_key="u1").enqueue(4)
    plain = work.enqueue(5)
    rows = dict(conn.execute("SELECT id, serial_key FROM pgqueue.jobs").fetchall())
    assert rows == {
        one.id: "customer:42",
        many[0]: "customer:42",
        many[1]: "customer:42",
        unique.id: "customer:42",
        plain.id: None,
    }
    with pytest.raises(InvalidOption, match="serial_key"):
        work.configure(serial_key="")
    with pytest.raises(InvalidOption, match="serial_key"):
        work.configure(serial_key=42)
