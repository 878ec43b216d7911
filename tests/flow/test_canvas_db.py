"""Healing and error callbacks in the database (migration 0009), with completions written
by plain SQL as any finisher would (worker, rescuer, operator), and the Celery-style
surface that needs no worker."""

from __future__ import annotations

import logging

import psycopg
import pytest

import pgqueue
from pgqueue.errors import InvalidOption
from tests.flow.test_workflow_db import _finish, _state, _tasks


def _last_error(conn: psycopg.Connection, job_id: int) -> str | None:
    row = conn.execute("SELECT last_error FROM pgqueue.jobs WHERE id = %s", [job_id]).fetchone()
    assert row is not None
    return row[0]


def test_retry_rearms_the_cancelled_tail_and_logs_it(
    app: pgqueue.App, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    add, _, _ = _tasks(app)
    handle = pgqueue.chain(add.s(1), add.s(), add.s(), add.s()).enqueue()
    a, b, c, d = (j.id for j in handle.jobs)
    _finish(conn, a, 1)
    _finish(conn, b, None, state="dead")
    assert [_state(conn, i)[0] for i in (c, d)] == ["cancelled", "cancelled"]
    with caplog.at_level(logging.INFO, logger="pgqueue.admin"):
        assert app.job(b).retry()
    assert any(f"job {b} retried: 1 dependent" in r.getMessage() for r in caplog.records)
    assert [_state(conn, i)[0] for i in (b, c, d)] == ["queued", "waiting", "waiting"]
    assert _last_error(conn, c) is None
    _finish(conn, b, 5)
    assert _state(conn, c) == ("queued", [5])
    _finish(conn, c, 6)
    assert _state(conn, d) == ("queued", [6])


def test_a_step_blocked_by_two_failed_parents_comes_back_after_both_retries(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    add, _, total = _tasks(app)
    handle = pgqueue.chord([add.s(1), add.s(2)], total.s()).enqueue()
    p1, p2, body = (j.id for j in handle.jobs)
    _finish(conn, p1, None, state="dead")
    _finish(conn, p2, None, state="dead")
    assert _state(conn, body)[0] == "cancelled"
    assert app.job(p1).retry()
    assert _state(conn, body)[0] == "cancelled"  # p2 is still dead
    assert app.job(p2).retry()
    assert _state(conn, body)[0] == "waiting"
    _finish(conn, p1, 10)
    assert _state(conn, body)[0] == "waiting"
    _finish(conn, p2, 20)
    assert _state(conn, body) == ("queued", [[10, 20]])


def test_an_operator_cancel_is_not_undone_by_a_retry(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, _, _ = _tasks(app)
    a, b = (j.id for j in pgqueue.chain(add.s(1), add.s()).enqueue().jobs)
    assert app.job(b).revoke()
    _finish(conn, a, None, state="dead")
    assert app.job(a).retry()
    assert _state(conn, b)[0] == "cancelled"
    assert _last_error(conn, b) == "cancelled by an operator"


def test_error_callback_gets_the_first_failure_and_is_not_needed_on_success(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    add, mul, _ = _tasks(app)
    flow = pgqueue.chain(add.s(1), mul.s(2), add.s()).link_error(add.s("tag"))
    a, b, c, errback = (j.id for j in flow.enqueue().jobs)
    assert _state(conn, errback)[0] == "waiting"
    _finish(conn, a, 1)
    conn.execute(
        "UPDATE pgqueue.jobs SET state = 'dead', finished_at = now(), last_error = 'ValueError: no'"
        " WHERE id = %s", [b],
    )
    # released once, naming b (not c, cancelled in b's wake)
    assert _state(conn, errback) == ("queued", [b, "ValueError: no", "tag"])
    assert _state(conn, c)[0] == "cancelled"

    ok = pgqueue.chain(add.s(1), add.s()).link_error(add.s("tag")).enqueue()
    x, y, errback2 = (j.id for j in ok.jobs)
    _finish(conn, x, 1)
    assert _state(conn, errback2)[0] == "waiting"
    _finish(conn, y, 2)
    assert _state(conn, errback2)[0] == "cancelled"
    assert _last_error(conn, errback2) == "not needed: every job it watched succeeded"


def test_error_callback_fires_for_a_job_the_rescuer_gives_up_on(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    """A worker that died on the job's last attempt: the rescuer's UPDATE fires the trigger."""
    add, _, _ = _tasks(app)
    job = add.apply_async((1,), max_attempts=1, link_error=add.s("lost"))
    (errback,) = (r[0] for r in conn.execute(
        "SELECT job_id FROM pgqueue.job_dependencies WHERE depends_on = %s", [job.id]))
    conn.execute(
        "UPDATE pgqueue.jobs SET state = 'running', attempt = 1, worker_id = gen_random_uuid(),"
        " lease_expires_at = now() - interval '1 second' WHERE id = %s", [job.id],
    )
    from pgqueue._sql import query

    conn.execute(query("rescue"), {"lock_key": 1, "limit": 100}).fetchall()
    assert job.refresh().state == pgqueue.JobState.DEAD
    state, args = _state(conn, errback)
    assert state == "queued" and args[0] == job.id and args[2] == "lost"
    assert args[1].startswith("WorkerLost")


def test_links_compile_into_dependents(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, mul, _ = _tasks(app)
    sig = add.s(1).link(mul.s(3)).link(add.si(100))
    main, cb1, cb2 = (j.id for j in sig.enqueue().jobs)
    _finish(conn, main, 7)
    assert _state(conn, cb1) == ("queued", [7, 3])
    assert _state(conn, cb2) == ("queued", [100])


def test_celery_names_are_refused_with_their_equivalent(app: pgqueue.App) -> None:
    add, _, _ = _tasks(app)
    with pytest.raises(InvalidOption, match="countdown is Celery's; use delay"):
        add.configure(countdown=5)  # type: ignore[call-arg]
    with pytest.raises(InvalidOption, match="time_limit is Celery's; use the task's timeout"):
        add.apply_async((1,), time_limit=5)  # type: ignore[call-arg]
    with pytest.raises(InvalidOption, match="give either countdown or delay"):
        add.apply_async((1,), countdown=1, delay=2)
    with pytest.raises(InvalidOption, match="unknown enqueue option"):
        add.s(1).set(bogus=1)
    assert add.s(1).set(countdown=5).options == {"delay": 5}
    with pytest.raises(InvalidOption, match="no body"):
        pgqueue.chord([add.s(1)]).enqueue()
    with pytest.raises(InvalidOption, match="n >= 1"):
        add.chunks([(1,)], 0)
    with pytest.raises(pgqueue.errors.InvalidPayload):
        add.starmap([(1, 2, 3)])  # add takes at most two arguments
    with pytest.raises(InvalidOption, match="depends_on"):
        add.apply_async((1,), depends_on=[1], link=add.s())


def test_revoke_without_terminate_leaves_a_running_job_alone(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    add, _, _ = _tasks(app)
    queued = add.apply_async((1,), countdown=3600)
    assert queued.revoke() and queued.refresh().state == pgqueue.JobState.CANCELLED
    running = add.delay(2)
    conn.execute("UPDATE pgqueue.jobs SET state = 'running', worker_id = gen_random_uuid(),"
                 " lease_expires_at = now() + interval '1 hour' WHERE id = %s", [running.id])
    assert not running.revoke()
    assert running.refresh().state == pgqueue.JobState.RUNNING
    assert running.revoke(terminate=True)
    row = conn.execute("SELECT cancel_requested_at IS NOT NULL FROM pgqueue.jobs WHERE id = %s",
                       [running.id]).fetchone()
    assert row == (True,)


def test_signature_apply_async_takes_this_calls_callbacks(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, mul, _ = _tasks(app)
    partial = add.s(y=1)
    job = partial.apply_async((41,), link=[mul.s(2)], link_error=add.s("e"), countdown=5)
    rows = conn.execute(
        "SELECT j.task, j.dependency_args, j.args FROM pgqueue.job_dependencies d"
        " JOIN pgqueue.jobs j ON j.id = d.job_id WHERE d.depends_on = %s ORDER BY j.id",
        [job.id],
    ).fetchall()
    assert rows == [("mul", "first", [2]), ("add", "error", ["e"])]
    assert job.refresh().row.args == [41] and job.row.kwargs == {"y": 1}
    assert job.row.run_at > job.row.created_at
    assert partial._links == [] and partial._errbacks == []  # the signature is unchanged
