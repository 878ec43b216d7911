"""Cancelling running jobs: the control channel, the heartbeat safety net, the rescuer."""

from __future__ import annotations

import time
import uuid

import psycopg

import pgqueue
from pgqueue._maintenance.rescuer import Rescuer
from tests.helpers import wait_for
from tests.limits.conftest import APP
from tests.worker.conftest import Workers


def state(conn: psycopg.Connection, job_id: int) -> str:
    row = conn.execute("SELECT state FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return str(row[0])


def started(conn: psycopg.Connection, job_id: int) -> bool:
    return conn.execute("SELECT 1 FROM exec_log WHERE job_id = %s", (job_id,)).fetchone() is not None


def test_running_async_and_cooperative_sync_jobs_end_cancelled_within_2s(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    workers.start("--concurrency", "4", app=APP)
    with pgqueue.App(dsn=workers.dsn) as app:
        async_job = app.enqueue("l.async_wait", [])
        sync_job = app.enqueue("l.coop", [])
        wait_for(lambda: started(conn, async_job.id) and started(conn, sync_job.id), timeout=60)

        assert async_job.cancel() is True
        assert sync_job.cancel() is True
        wait_for(lambda: {state(conn, async_job.id), state(conn, sync_job.id)} == {"cancelled"}, timeout=30)

    rows = conn.execute(
        "SELECT id, extract(epoch FROM finished_at - cancel_requested_at), last_error, "
        "errors -> -1 ->> 'type' FROM pgqueue.jobs ORDER BY id"
    ).fetchall()
    for job_id, seconds, last_error, error_type in rows:
        assert seconds < 2.0, (job_id, seconds)
        assert last_error.startswith("JobCancelled"), last_error
        assert error_type == "pgqueue.errors.JobCancelled"
    # The cooperative task stopped where it checked (its own JobCancelled, with traceback).
    tb = conn.execute(
        "SELECT errors -> -1 ->> 'traceback' FROM pgqueue.jobs WHERE id = %s", (sync_job.id,)
    ).fetchone()
    assert tb is not None and "raise_if_cancelled" in tb[0]


def test_missed_control_message_heartbeat_cancels(app: pgqueue.App, conn: psycopg.Connection) -> None:
    @app.task(name="c.coop", bind=True)
    def coop(ctx: pgqueue.Context) -> str:
        deadline = time.monotonic() + 30
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        return "stopped early"

    # No LISTEN connection: the cancel message is lost; the next heartbeat finds the flag.
    worker = pgqueue.Worker(app, queues=["default"], listen=False, heartbeat_interval=0.3, lease=3.0)
    worker.start()
    try:
        job = coop.enqueue()
        wait_for(lambda: state(conn, job.id) == "running", timeout=30)
        assert job.cancel() is True
        wait_for(lambda: state(conn, job.id) == "cancelled", timeout=30)
    finally:
        worker.stop(timeout=5)
    # A task that returns after the cancel still ends cancelled (its result is dropped).
    assert job.refresh().row.result is None
    assert worker.stats.cancelled == 1


def test_cancel_for_a_job_that_finished_first_changes_nothing(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    @app.task(name="c.quick")
    def quick() -> int:
        return 7

    worker = pgqueue.Worker(app, queues=["default"])
    worker.start()
    try:
        job = quick.enqueue()
        assert job.result(timeout=30) == 7
        assert job.cancel() is False
    finally:
        worker.stop(timeout=5)
    assert state(conn, job.id) == "succeeded"


def test_rescue_ends_a_cancelled_job_of_a_dead_worker_cancelled(conn: psycopg.Connection) -> None:
    lost = uuid.uuid4()
    conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, attempt, worker_id, lease_expires_at, started_at, "
        "cancel_requested_at) VALUES "
        "('t', 'running', 1, %(w)s, now() - interval '1 minute', now(), now()), "
        "('t', 'running', 1, %(w)s, now() - interval '1 minute', now(), NULL)",
        {"w": lost},
    )
    rescued = Rescuer().run_once(conn)
    assert sorted((r.id, r.state) for r in rescued) == [(1, "cancelled"), (2, "queued")]
    row = conn.execute("SELECT finished_at IS NOT NULL, last_error FROM pgqueue.jobs WHERE id = 1").fetchone()
    assert row is not None and row[0] and row[1].startswith("JobCancelled")


def test_pause_and_resume_reach_an_idle_worker_at_once(app: pgqueue.App, conn: psycopg.Connection) -> None:
    @app.task(name="c.add")
    def add(a: int, b: int) -> int:
        return a + b

    # A long poll interval: only the control/wake messages can make this worker act quickly.
    worker = pgqueue.Worker(app, queues=["default"], poll_interval=60.0)
    worker.start()
    try:
        assert worker.notifier is not None and worker.notifier.wait_connected(10)
        handled = worker.notifier.runs
        app.queues.pause("default")
        job = add.enqueue(1, 2)
        # The worker has handled the enqueue's NOTIFY (an idle worker claims right on its
        # listener connection) and the paused queue gave it nothing.
        assert worker.notifier.wait_runs(handled + 2, timeout=10)  # the pause's message, then the job's
        assert state(conn, job.id) == "queued" and worker.stats.claimed == 0
        app.queues.resume("default")
        # Well before the next poll (60 s): the resume message woke the worker.
        assert job.result(timeout=10) == 3
    finally:
        worker.stop(timeout=5)
