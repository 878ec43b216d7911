"""Job expiry (``expires=``): written at enqueue, enforced by every claim statement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import pgqueue
from pgqueue._worker import claims
from pgqueue.testing import run_job

LEASE_S = 30.0


def _tasks(app: pgqueue.App) -> pgqueue.Task:
    @app.task(name="exp.echo")
    def echo(x: int) -> int:
        return x

    return echo


def _row(conn: psycopg.Connection, job_id: int) -> tuple:
    row = conn.execute(
        "SELECT state, attempt, started_at, finished_at, worker_id, last_error, errors, expires_at"
        " FROM pgqueue.jobs WHERE id = %s",
        [job_id],
    ).fetchone()
    assert row is not None
    return row


def _assert_expired(conn: psycopg.Connection, job_id: int) -> None:
    state, attempt, started, finished, worker, last_error, errors, _ = _row(conn, job_id)
    assert (state, attempt, started, worker) == ("cancelled", 0, None, None)
    assert finished is not None
    assert last_error.startswith("JobExpired: expired at")
    assert [e["type"] for e in errors] == ["pgqueue.JobExpired"]
    assert "expired at" in errors[0]["message"]


def _expire_now(conn: psycopg.Connection, ids: list[int]) -> None:
    """Move expires_at into the past (the database's clock), as time passing would."""
    conn.execute(
        "UPDATE pgqueue.jobs SET expires_at = now() - interval '1 second' WHERE id = ANY(%s)", [ids]
    )


@pytest.mark.parametrize("how", ["seconds", "timedelta", "datetime"])
def test_expires_is_stored_from_every_form(app: pgqueue.App, conn: psycopg.Connection, how: str) -> None:
    echo = _tasks(app)
    value: object = {
        "seconds": 3600,
        "timedelta": timedelta(hours=1),
        "datetime": datetime.now(UTC) + timedelta(hours=1),
    }[how]
    job = echo.configure(expires=value).enqueue(1)  # type: ignore[arg-type]
    expires_at = _row(conn, job.id)[7]
    db_now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    assert timedelta(minutes=59) < expires_at - db_now <= timedelta(hours=1, seconds=5)
    assert job.refresh().row.expires_at == expires_at


def test_fast_and_bounded_claims_end_expired_jobs_without_returning_them(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    echo = _tasks(app)
    stale = [echo.apply_async((i,), expires=3600).id for i in range(3)]
    fresh = [echo.apply_async((i,), expires=3600).id for i in range(3, 5)]
    forever = echo.delay(9).id
    _expire_now(conn, stale)
    worker = uuid.uuid4()
    claimer = claims.Claimer(worker, ("default",), LEASE_S)
    got = claimer.claim(conn, 10)
    assert sorted(j.id for j in got) == sorted([*fresh, forever])
    assert all(j.state == "running" for j in got)
    for job_id in stale:
        _assert_expired(conn, job_id)
    # the bounded claim (the claimer's next one) ends them the same way
    later = [echo.apply_async((i,), expires=3600).id for i in range(2)]
    _expire_now(conn, later[:1])
    got = claimer.claim(conn, 10)
    assert [j.id for j in got] == later[1:]
    _assert_expired(conn, later[0])


def test_a_claim_that_ended_expired_jobs_wakes_the_queue_to_claim_again(
    app: pgqueue.App, conn: psycopg.Connection, dsn: str
) -> None:
    echo = _tasks(app)
    stale = [echo.apply_async((i,), expires=3600, queue="q1").id for i in range(2)]
    live = [echo.apply_async((i,), queue="q1").id for i in range(2)]
    _expire_now(conn, stale)
    claimer = claims.Claimer(uuid.uuid4(), ("q1",), LEASE_S)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN pgqueue_jobs")
        got = claimer.claim(conn, 2)  # picks the two expired heads: short, although 2 are due
        assert got == []
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["q1"]
        assert sorted(j.id for j in claimer.claim(conn, 2)) == live
        # a claim that ended nothing sends nothing (this insert is quiet: pgqueue.wake off)
        with conn.transaction():
            conn.execute("SELECT set_config('pgqueue.wake', 'off', true)")
            conn.execute("INSERT INTO pgqueue.jobs (queue, task, args) VALUES ('q1', 'exp.echo', '[9]')")
        assert len(claimer.claim(conn, 2)) == 1
        assert list(listener.notifies(timeout=0.3)) == []


def test_limited_claim_ends_expired_jobs_and_does_not_count_them_as_starts(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    echo = _tasks(app)
    app.queues.set_limits("default", rate="100/m")
    stale = [echo.configure(expires=3600).enqueue(i).id for i in range(4)]
    fresh = echo.enqueue(5).id
    _expire_now(conn, stale)
    claimer = claims.Claimer(uuid.uuid4(), ("default",), LEASE_S)
    got: list[int] = []
    for _ in range(3):  # the first fast claim learns that the queue is limited
        got += [j.id for j in claimer.claim(conn, 10)]
    assert got == [fresh]
    for job_id in stale:
        _assert_expired(conn, job_id)
    logged = conn.execute("SELECT coalesce(sum(n), 0) FROM pgqueue.queue_starts").fetchone()
    assert logged == (1,)


def test_job_past_its_expiry_never_runs_inline_and_its_handle_says_so(app: pgqueue.App) -> None:
    ran: list[int] = []

    @app.task(name="exp.track")
    def track(x: int) -> None:
        ran.append(x)

    job = track.apply_async((1,), expires=datetime.now(UTC) - timedelta(seconds=1))
    assert not job.ready()
    run_job(job)
    assert ran == []
    assert job.ready() and job.failed() and not job.successful()
    with pytest.raises(pgqueue.JobFailed, match="JobExpired"):
        job.get(timeout=1)


def test_bulk_unique_and_workflow_enqueues_carry_expiry(app: pgqueue.App, conn: psycopg.Connection) -> None:
    echo = _tasks(app)
    ids = echo.configure(expires=60).enqueue_many([(1,), (2,)])
    keyed = echo.configure(expires=60, unique_key="k").enqueue(3).id
    flow = pgqueue.chain(echo.s(4).set(expires=60), echo.s()).enqueue()
    rows = conn.execute(
        "SELECT id, expires_at - now() FROM pgqueue.jobs WHERE id = ANY(%s)",
        [[*ids, keyed, flow.jobs[0].id, flow.jobs[1].id]],
    ).fetchall()
    left = {job_id: delta for job_id, delta in rows}
    for job_id in [*ids, keyed, flow.jobs[0].id]:
        assert timedelta(seconds=50) < left[job_id] <= timedelta(seconds=65)
    assert left[flow.jobs[1].id] is None


@pytest.mark.parametrize("bad", [-1, float("nan"), "soon", datetime(2030, 1, 1), True])
def test_bad_expires_is_refused_before_anything_is_written(
    app: pgqueue.App, conn: psycopg.Connection, bad: object
) -> None:
    echo = _tasks(app)
    with pytest.raises(pgqueue.errors.InvalidOption, match="expires"):
        echo.apply_async((1,), expires=bad)  # type: ignore[arg-type]
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (0,)
