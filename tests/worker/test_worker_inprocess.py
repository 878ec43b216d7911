"""The embeddable Worker, results, timeouts, scheduling and pgqueue.testing, in-process."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from types import ModuleType
from typing import Any

import psycopg
import pytest

import pgqueue
import pgqueue.testing
from pgqueue._worker import claims
from pgqueue.errors import JobNotFound
from tests.helpers import wait_for


@pytest.fixture
def worker_factory(task_app: ModuleType) -> Any:
    started: list[pgqueue.Worker] = []

    def make(**kw: Any) -> pgqueue.Worker:
        w = pgqueue.Worker(task_app.app, **kw)
        w.start()
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop(timeout=2)


def test_results_sync_async_failures_and_timeouts(
    task_app: ModuleType, exec_log: psycopg.Connection, worker_factory: Any
) -> None:
    t = task_app
    events: list[pgqueue._worker.WorkerEvent] = []
    added = t.add.enqueue(1, 2)
    async_added = t.async_add.enqueue(40, 2)
    noop = t.noop.enqueue()
    bad_value = t.not_json.enqueue()
    unknown = t.app.enqueue("t.never_registered", max_attempts=1)
    worker = worker_factory(concurrency=4, on_event=events.append)

    assert added.result(timeout=10) == 3

    async def wait_async() -> tuple[object, int]:  # awaited on the async pool, not a thread
        value = await async_added.result_async(timeout=10)
        pool = await t.app.async_pool()
        return value, pool.get_stats().get("requests_num", 0)

    value, served = asyncio.run(wait_async())
    assert value == 42 and served >= 1
    assert noop.result(timeout=10) is None
    with pytest.raises(pgqueue.JobFailed, match="not JSON"):
        bad_value.result(timeout=10)
    # A task this worker does not know is handed back untouched (tests/worker/test_unknown_tasks.py).
    wait_for(lambda: any(e.kind == "unknown_task" and e.job_id == unknown.id for e in events))

    def handed_back() -> tuple[str, int] | None:  # past a claim (running, attempt 1)
        row = exec_log.execute(
            "SELECT state, attempt FROM pgqueue.jobs WHERE id = %s", (unknown.id,)
        ).fetchone()
        return (row[0], row[1]) if row is not None and row[0] == "queued" else None

    assert wait_for(handed_back) == ("queued", 0)
    with pytest.raises(JobNotFound):
        t.app.job(10**9).result(timeout=1)
    elsewhere = t.app.enqueue("t.add", args=(1, 1), queue="nobody_serves_this")
    with pytest.raises(TimeoutError):
        elsewhere.result(timeout=0.2)
    with pytest.raises(TimeoutError):
        asyncio.run(elsewhere.result_async(timeout=0.2))

    wait_for(lambda: worker.stats.succeeded == 3 and worker.stats.dead == 1)
    assert worker.stats.claimed == 4 and worker.stats.fenced_out == 0
    kinds = {(e.kind, e.job_id) for e in events}
    assert ("claimed", added.id) in kinds and ("succeeded", added.id) in kinds
    assert ("claimed", unknown.id) not in kinds and ("dead", unknown.id) not in kinds


def test_task_timeouts_fail_the_attempt(task_app: ModuleType, worker_factory: Any) -> None:
    t = task_app
    async_job = t.async_timeout.enqueue()
    sync_job = t.sync_timeout.enqueue()
    worker_factory(concurrency=2)
    for job in (async_job, sync_job):
        with pytest.raises(pgqueue.JobFailed, match=r"exceeded its timeout of 0\.3s"):
            job.result(timeout=15)


def test_scheduled_job_runs_when_due_not_at_the_next_poll(task_app: ModuleType, worker_factory: Any) -> None:
    worker_factory(concurrency=1, poll_interval=2.0)
    job = task_app.add.configure(delay=2.5).enqueue(2, 2)  # no NOTIFY for a future job
    assert job.result(timeout=15) == 4
    row = job.refresh().row
    assert row.started_at is not None
    # Announced by its insert's NOTIFY, started by the timer at run_at (not the 4 s poll).
    assert (row.started_at - row.run_at).total_seconds() < 1.0


def test_a_burst_of_delayed_enqueues_sets_the_timer_without_a_probe_each(
    task_app: ModuleType, worker_factory: Any
) -> None:
    worker = worker_factory(concurrency=2, poll_interval=3600.0)
    assert worker.notifier is not None and worker.notifier.wait_connected(30)
    assert task_app.add.enqueue(1, 1).result(timeout=30) == 2  # the worker is up and idle
    before = worker.producer.probes
    producer = pgqueue.App(dsn=task_app.app.dsn, wake_window_ms=0)  # one NOTIFY per enqueue
    try:
        for i in range(100):
            producer.enqueue("t.add", [i, i], delay=600 + i)
        # Notifications arrive in commit order: once this one is claimed, the notifier has
        # handled the hundred before it.
        assert producer.enqueue("t.add", [2, 2]).result(timeout=30) == 4
    finally:
        producer.close()
    assert worker.producer.wake.scheduled  # the timer is set for the first of them
    assert worker.producer.probes - before <= 1  # not one probe per wake-up


def test_paused_queue_is_not_claimed(task_app: ModuleType, conn: psycopg.Connection) -> None:
    job = task_app.add.enqueue(1, 1)
    conn.execute("INSERT INTO pgqueue.queues (name, paused) VALUES ('default', true)")
    me = uuid.uuid4()
    assert claims.claim(conn, me, ["default"], 10, 9.0) == []
    conn.execute("UPDATE pgqueue.queues SET paused = false WHERE name = 'default'")
    assert [r.id for r in claims.claim(conn, me, ["default"], 10, 9.0)] == [job.id]


def test_stop_hands_back_running_jobs(
    task_app: ModuleType, exec_log: psycopg.Connection, worker_factory: Any
) -> None:
    job = task_app.async_sleep.enqueue(60)
    worker = worker_factory(concurrency=1)
    wait_for(lambda: exec_log.execute("SELECT count(*) FROM exec_log").fetchone() == (1,))
    worker.stop(timeout=0.2)
    row = job.refresh().row
    assert (row.state, row.attempt) == (pgqueue.JobState.QUEUED, 0)
    assert worker.stats.handed_back == 1


def test_stop_when_idle_drains_then_returns(task_app: ModuleType, exec_log: psycopg.Connection) -> None:
    conn = exec_log
    ids = [task_app.add.enqueue(i, i).id for i in range(20)]
    flaky = task_app.flaky.enqueue(1)
    worker = pgqueue.Worker(task_app.app, concurrency=3, stop_when_idle=True)
    worker.run()  # returns once nothing is due, scheduled or running (the retry included)
    assert worker.stats.succeeded == 21 and worker.stats.retried == 1
    assert conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded' AND id = ANY(%s)", ([*ids, flaky.id],)
    ).fetchone() == (21,)
    assert conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (0,)


def test_testing_helpers(task_app: ModuleType, exec_log: psycopg.Connection) -> None:
    t = task_app
    t.add.enqueue(1, 2)
    t.add.configure(queue="other").enqueue(5, 5)
    [job] = pgqueue.testing.assert_enqueued(t.app, t.add, args=[1, 2], count=1)
    with pytest.raises(AssertionError, match="expected at least one queued job"):
        pgqueue.testing.assert_enqueued(t.app, t.add, args=[9, 9])
    done = pgqueue.testing.run_job(job)
    assert done.state == pgqueue.JobState.SUCCEEDED and done.result(timeout=0) == 3
    flaky = t.flaky.configure(delay=3600).enqueue(1)  # scheduled: run_job runs it anyway
    assert pgqueue.testing.run_job(flaky).state == pgqueue.JobState.QUEUED  # first attempt failed
    t.async_add.enqueue(2, 2)
    drained = pgqueue.testing.drain(t.app, ["default"])
    assert drained.ran == 1 and drained.succeeded  # the flaky retry is not due yet
    assert pgqueue.testing.drain(t.app, ["other"]).succeeded


def test_rescuer_requeues_only_expired_running_jobs(conn: psycopg.Connection, app: pgqueue.App) -> None:
    from pgqueue._maintenance.rescuer import Rescuer

    def insert(state: str, lease_s: float | None, attempt: int = 1, max_attempts: int = 5) -> int:
        row = conn.execute(
            "INSERT INTO pgqueue.jobs (task, state, attempt, max_attempts, worker_id, lease_expires_at, "
            "finished_at) VALUES ('t', %s, %s, %s, gen_random_uuid(), "
            "now() + make_interval(secs => %s), CASE WHEN %s = 'succeeded' THEN now() END) RETURNING id",
            (state, attempt, max_attempts, lease_s, state),
        ).fetchone()
        assert row is not None
        return int(row[0])

    expired = insert("running", -1)
    exhausted = insert("running", -1, attempt=5)
    alive = insert("running", 60)
    done = insert("succeeded", None)
    rescuer = Rescuer()
    with psycopg.connect(conn.info.dsn) as other:  # another process holds the election
        other.execute("SELECT pg_advisory_xact_lock(%s)", (rescuer.key,))
        assert rescuer.run_once(conn) == []
    rescued = {j.id: j.state for j in rescuer.run_once(conn)}
    assert rescued == {expired: "queued", exhausted: "dead"}
    rows = dict(conn.execute("SELECT id, state FROM pgqueue.jobs").fetchall())
    assert rows == {expired: "queued", exhausted: "dead", alive: "running", done: "succeeded"}
    assert rescuer.run_once(conn) == []


def test_fenced_completion_changes_nothing(conn: psycopg.Connection, app: pgqueue.App) -> None:
    from pgqueue._worker.completer import write_batch
    from pgqueue._worker.outcome import succeeded

    job = app.enqueue("t.x")
    lost, winner = uuid.uuid4(), uuid.uuid4()
    [row] = claims.claim(conn, lost, ["default"], 1, 9.0)
    # The lease expires and the job is rescued and claimed again by another worker.
    conn.execute("UPDATE pgqueue.jobs SET lease_expires_at = now() - interval '1 s'")
    from pgqueue._maintenance.rescuer import Rescuer

    Rescuer().run_once(conn)
    [again] = claims.claim(conn, winner, ["default"], 1, 9.0)
    assert again.attempt == row.attempt + 1
    assert write_batch(conn, lost, [succeeded(job.id, row.attempt, '"late"')]) == set()
    assert job.refresh().state == pgqueue.JobState.RUNNING
    assert write_batch(conn, winner, [succeeded(job.id, again.attempt, '"ok"')]) == {job.id}
    assert job.result(timeout=0) == "ok"


def test_heartbeat_extends_held_leases_and_reregisters(conn: psycopg.Connection, app: pgqueue.App) -> None:
    from pgqueue._worker.heartbeat import Heartbeat

    me = uuid.uuid4()
    job = app.enqueue("t.x")
    [row] = claims.claim(conn, me, ["default"], 1, 1.0)
    beat = Heartbeat(me, ["default"], 4, lease_s=60.0)
    assert beat.beat(conn, [row.id]) == {row.id}
    lease = conn.execute("SELECT lease_expires_at - now() FROM pgqueue.jobs").fetchone()
    assert lease is not None and lease[0] > dt.timedelta(seconds=50)
    conn.execute("DELETE FROM pgqueue.workers")
    assert beat.beat(conn, [row.id]) == {row.id}  # re-registered
    assert conn.execute("SELECT count(*) FROM pgqueue.workers WHERE id = %s", (me,)).fetchone() == (1,)
    assert Heartbeat(uuid.uuid4(), ["default"], 4, 60.0).beat(conn, [job.id]) == set()  # not its job
