"""The maintenance service's bounds and its shutdown, on real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

import pgqueue
from pgqueue._admin.prune import run_retention
from pgqueue._maintenance import cron
from pgqueue._maintenance.config import MaintenanceConfig
from pgqueue._maintenance.cron import Scheduler
from pgqueue._maintenance.service import Maintenance
from tests.soak import soak_app


@pytest.fixture
def soak(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pgqueue.App]:
    monkeypatch.setattr(soak_app.app, "_dsn", dsn)
    monkeypatch.setattr(soak_app.app, "_resolved_dsn", None)
    yield soak_app.app
    soak_app.app.close()


def test_tick_pruning_is_batched_and_keeps_each_schedules_newest(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    conn.execute("INSERT INTO pgqueue.schedules (name, task, interval_s) VALUES ('a', 't', 1), ('b', 't', 1)")
    old = cron.TICK_PRUNE_BATCH * 2 + 7
    conn.execute(
        "INSERT INTO pgqueue.schedule_ticks (schedule, fire_at, fired_at) "
        "SELECT 'a', now() - interval '3 days' + g * interval '1 second', now() - interval '2 days' "
        "FROM generate_series(1, %s) AS g",
        (old,),
    )
    conn.execute("INSERT INTO pgqueue.schedule_ticks (schedule, fire_at) VALUES ('a', now())")
    conn.execute(  # b fired once, long ago: its only (newest) slot stays for `schedules ls`
        "INSERT INTO pgqueue.schedule_ticks (schedule, fire_at, fired_at) "
        "VALUES ('b', now() - interval '3 days', now() - interval '3 days')"
    )
    scheduler = Scheduler(app, owner=uuid.uuid4())
    assert scheduler.prune_ticks(keep_s=3600) == old
    rows = conn.execute(
        "SELECT schedule, count(*) FROM pgqueue.schedule_ticks GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("a", 1), ("b", 1)]
    assert scheduler.prune_ticks() == 0  # the default retention (a day) keeps them too


def _maintenance(app: pgqueue.App) -> Maintenance:
    return Maintenance(
        MaintenanceConfig(rescue=False, retention=False, tick_prune_interval=timedelta(hours=1).seconds),
        app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=3.0,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip


def _due(conn: psycopg.Connection) -> int:
    conn.execute("DELETE FROM pgqueue.schedule_ticks")
    conn.execute("UPDATE pgqueue.schedules SET next_fire_at = now() - interval '1 second'")
    return 0


def _ticks(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pgqueue.schedule_ticks").fetchone()
    assert row is not None
    return int(row[0])


def test_a_stopping_worker_fires_no_more_schedule_ticks(soak: pgqueue.App, conn: psycopg.Connection) -> None:
    _maintenance(soak).run_once()  # syncs the app's 1 s schedule into the table
    _due(conn)
    _maintenance(soak).run_once()  # a worker that is not stopping fires the due tick
    assert _ticks(conn) == 1

    _due(conn)
    stopping = _maintenance(soak)
    stopping.quiesce()  # shutdown has begun
    assert stopping.run_once() is None
    assert _ticks(conn) == 0


def _bounds_check(app: pgqueue.App) -> dict[str, object]:
    from pgqueue._admin.doctor import run_doctor

    return next(c for c in run_doctor(app) if c.name == "table_bounds").as_dict()


def test_doctor_names_tables_that_grow_because_a_duty_runs_nowhere(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    assert _bounds_check(app)["status"] == "ok"
    conn.execute("INSERT INTO pgqueue.schedules (name, task, interval_s) VALUES ('a', 't', 1)")
    conn.execute(
        "INSERT INTO pgqueue.schedule_ticks (schedule, fire_at, fired_at) "
        "SELECT 'a', now() - g * interval '1 second', now() - interval '3 days' FROM generate_series(1, 5) g"
    )
    conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, expires_at) "
        "VALUES (gen_random_uuid(), 'gone', 1, '{default}', 1, 'x', now() - interval '1 day')"
    )
    conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, attempt, finished_at) "
        "SELECT 't', 'succeeded', 1, now() - interval '30 days' FROM generate_series(1, 7)"
    )
    check = _bounds_check(app)
    assert check["status"] == "warn"
    assert check["data"] == {"ticks": 4, "workers": 1, "succeeded": 7}  # the newest tick stays
    assert "schedule_ticks: 4 rows" in str(check["detail"]) and "jobs: 7 rows" in str(check["detail"])

    maintenance = Maintenance(
        MaintenanceConfig(tick_prune_interval=timedelta(hours=1).seconds),
        app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=0.001,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip
    maintenance.run_once()  # the rescue forgets the long-dead worker
    run_retention(app)  # the duties the maintenance runs later: retention, tick pruning
    Scheduler(app, owner=uuid.uuid4()).prune_ticks()
    check = _bounds_check(app)
    assert check["status"] == "ok", check


def _worker_row(conn: psycopg.Connection, expired_ago: str) -> uuid.UUID:
    worker = uuid.uuid4()
    conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, expires_at) "
        "VALUES (%s, 'gone', 1, '{default}', 1, 'x', now() - %s::interval)",
        (worker, expired_ago),
    )
    return worker


def _running_job(conn: psycopg.Connection, worker: uuid.UUID, lease: str) -> int:
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, attempt, worker_id, lease_expires_at, started_at) "
        "VALUES ('t', 'running', 1, %s, now() + %s::interval, now()) RETURNING id",
        (worker, lease),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _workers(conn: psycopg.Connection) -> set[uuid.UUID]:
    return {r[0] for r in conn.execute("SELECT id FROM pgqueue.workers").fetchall()}


def test_the_rescuer_never_forgets_a_worker_that_still_owns_a_running_job(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    from pgqueue._maintenance.rescuer import Rescuer

    owner = _worker_row(conn, "2 hours")  # long dead by its row, but its job's lease is valid
    job = _running_job(conn, owner, "10 minutes")
    lost = _worker_row(conn, "2 hours")  # long dead, and its job's lease expired too
    lost_job = _running_job(conn, lost, "-1 minute")
    idle = _worker_row(conn, "2 hours")  # long dead, owns nothing
    recent = _worker_row(conn, "1 minute")  # dead for less than the forget delay
    rescuer = Rescuer()
    with app.pool.connection() as pooled:
        rescued = rescuer.run_once(pooled)
    # The lost worker's job went back first, so its row went in the same pass.
    assert [(j.id, j.state) for j in rescued] == [(lost_job, "queued")]
    assert _workers(conn) == {owner, recent}
    with app.pool.connection() as pooled:
        assert rescuer.forget(pooled) == []  # nothing else to forget while the job runs
    conn.execute("UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = %s", (job,))
    with app.pool.connection() as pooled:
        assert rescuer.forget(pooled) == [owner]
    assert _workers(conn) == {recent} and idle not in _workers(conn)


def test_a_retention_pass_stopped_by_its_cap_is_followed_at_once(
    app: pgqueue.App, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue that finishes more jobs per interval than one pass deletes must not grow
    without bound: after a capped pass the next one comes in about a second, not a
    whole interval later (the 30-minute soak at 2,000 jobs/s found the table growing)."""
    import importlib

    from pgqueue._maintenance.config import RETENTION_BACKLOG_S

    prune = importlib.import_module("pgqueue._admin.prune")  # the module, not the function

    monkeypatch.setattr(prune, "RETENTION_MAX_BATCHES", 4)  # 4 x PRUNE_BATCH rows a pass
    conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, finished_at, attempt) "
        "SELECT 't', 'succeeded', now() - interval '30 days', 1 FROM generate_series(1, %s)",
        (4 * prune.PRUNE_BATCH + 10,),
    )
    maintenance = Maintenance(
        MaintenanceConfig(rescue=False, cron=False, history=False, retention_interval=60.0),
        app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=3.0,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip
    assert maintenance._retention() == RETENTION_BACKLOG_S  # capped: more is due
    assert maintenance._retention() == 60.0  # the rest went: back to the interval
    row = conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone()
    assert row == (0,)
