"""Workflows in the database: rows, edges and the release trigger (no worker needed:
completions are written with plain SQL, as any finisher would)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgqueue
from pgqueue.workflow import Signature, chain, chord, enqueue_with_dependencies, group


def _tasks(app: pgqueue.App) -> tuple[pgqueue.Task, pgqueue.Task, pgqueue.Task]:
    @app.task(name="add")
    def add(x: int, y: int = 0) -> int:
        return x + y

    @app.task(name="mul", queue="math")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(name="total")
    def total(xs: list[int]) -> int:
        return sum(xs)

    return add, mul, total


def _finish(conn: psycopg.Connection, job_id: int, result: object, state: str = "succeeded") -> None:
    conn.execute(
        "UPDATE pgqueue.jobs SET state = %s, result = %s, finished_at = now() WHERE id = %s",
        [state, Jsonb(result), job_id],
    )


def _state(conn: psycopg.Connection, job_id: int) -> tuple[str, list]:
    row = conn.execute("SELECT state, args FROM pgqueue.jobs WHERE id = %s", [job_id]).fetchone()
    assert row is not None
    return row[0], row[1]


def test_chain_passes_each_result_to_the_next_step(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, mul, _ = _tasks(app)
    handle = chain(Signature(add, (1, 2)), Signature(mul, (10,)), Signature(add, (), {"y": 1})).enqueue()
    a, b, c = (j.id for j in handle.jobs)
    assert handle.final[0].id == c
    assert [_state(conn, i)[0] for i in (a, b, c)] == ["queued", "waiting", "waiting"]

    with psycopg.connect(conn.info.dsn, autocommit=True) as listener:
        listener.execute("LISTEN pgqueue_jobs")
        _finish(conn, a, 3)
        assert [n.payload for n in listener.notifies(timeout=0.5)] == ["math"]
    assert _state(conn, b) == ("queued", [3, 10])
    assert _state(conn, c)[0] == "waiting"
    _finish(conn, b, 30)
    assert _state(conn, c) == ("queued", [30])


def test_failed_middle_step_cancels_the_rest(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, mul, _ = _tasks(app)
    handle = chain(Signature(add, (1,)), Signature(mul, (2,)), Signature(add, ())).enqueue()
    a, b, c = (j.id for j in handle.jobs)
    _finish(conn, a, 1)
    _finish(conn, b, None, state="dead")
    row = conn.execute("SELECT state, last_error, finished_at IS NOT NULL FROM pgqueue.jobs WHERE id = %s",
                       [c]).fetchone()
    assert row == ("cancelled", f"dependency {b} ended dead", True)


def test_immutable_signature_ignores_the_previous_result(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, _, _ = _tasks(app)
    handle = chain(Signature(add, (1,)), Signature(add, (5,), immutable=True)).enqueue()
    a, b = (j.id for j in handle.jobs)
    _finish(conn, a, 99)
    assert _state(conn, b) == ("queued", [5])


def test_group_fans_out_and_chord_fans_in_in_order(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, _, total = _tasks(app)
    handle = chord(group(Signature(add, (i,)) for i in range(20)), Signature(total)).enqueue()
    members, callback = [j.id for j in handle.jobs[:-1]], handle.jobs[-1].id
    assert len(members) == 20
    assert {_state(conn, m)[0] for m in members} == {"queued"}
    # finish out of order, two in one statement as a batched completer would
    for m in reversed(members[2:]):
        _finish(conn, m, m * 10)
        assert _state(conn, callback)[0] == "waiting"
    conn.execute(
        "UPDATE pgqueue.jobs SET state = 'succeeded', result = to_jsonb(id * 10), finished_at = now()"
        " WHERE id = ANY(%s)", [members[:2]],
    )
    assert _state(conn, callback) == ("queued", [[m * 10 for m in members]])


def test_group_alone_has_every_member_final(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, _, _ = _tasks(app)
    handle = group(Signature(add, (i,)) for i in range(50)).enqueue()
    assert len(handle.jobs) == 50 and handle.final == handle.jobs
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE state = 'queued'").fetchone() == (50,)


def test_workflow_in_a_rolled_back_transaction_leaves_nothing(app: pgqueue.App, dsn: str) -> None:
    add, _, total = _tasks(app)
    with psycopg.connect(dsn) as caller:
        caller.execute("CREATE TEMP TABLE t (x int)")
        chain(Signature(add, (1,)), Signature(add, ())).enqueue(conn=caller)
        chord([Signature(add, (i,)) for i in range(3)], Signature(total)).enqueue(conn=caller)
        caller.rollback()
    with psycopg.connect(dsn) as check:
        assert check.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (0,)
        assert check.execute("SELECT count(*) FROM pgqueue.job_dependencies").fetchone() == (0,)


@pytest.mark.parametrize("policy, expected", [("cancel", "cancelled"), ("run", "queued")])
def test_depends_on_existing_jobs(app: pgqueue.App, conn: psycopg.Connection, policy: str,
                                  expected: str) -> None:
    add, _, _ = _tasks(app)
    first = add.enqueue(1)
    second = add.enqueue(2)
    job = enqueue_with_dependencies(app, add, {"on_dependency_failure": policy}, (3,), {},
                                    [first, second.id], None)
    assert _state(conn, job.id) == ("waiting", [3])
    _finish(conn, first.id, 1)
    assert _state(conn, job.id)[0] == "waiting"
    _finish(conn, second.id, None, state="dead")
    assert _state(conn, job.id) == (expected, [3])


def test_depends_on_already_finished_parents(app: pgqueue.App, conn: psycopg.Connection) -> None:
    add, _, _ = _tasks(app)
    done = add.enqueue(1)
    _finish(conn, done.id, 1)
    job = enqueue_with_dependencies(app, add, {}, (3,), {}, [done], None)
    assert _state(conn, job.id) == ("queued", [3])
    dead = add.enqueue(2)
    _finish(conn, dead.id, None, state="dead")
    cancelled = enqueue_with_dependencies(app, add, {}, (4,), {}, [dead], None)
    assert _state(conn, cancelled.id)[0] == "cancelled"
    with pytest.raises(pgqueue.PgQueueError):
        enqueue_with_dependencies(app, add, {}, (5,), {}, [10**9], None)
