"""History kept by the database (migration 0008): the rollup, its bounds, and the reads."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue.dashboard import history


def finished(conn: psycopg.Connection[Any], *, minutes_ago: float, n: int, state: str = "succeeded",
             task: str = "app.report", queue: str = "reports", run_s: float = 0.2, wait_s: float = 1.0,
             errors: int = 0) -> None:
    """``n`` jobs that finished ``minutes_ago`` after ``wait_s`` queued and ``run_s`` running."""
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, attempt, run_at, started_at, finished_at, errors) "
        "SELECT %(queue)s, %(task)s, %(state)s, 1, f - make_interval(secs => %(run)s + %(wait)s), "
        "f - make_interval(secs => %(run)s), f, "
        "(SELECT coalesce(jsonb_agg(jsonb_build_object('type', 'ValueError')), '[]') "
        " FROM generate_series(1, %(errors)s)) "
        "FROM (SELECT date_bin('1 minute', now() - make_interval(mins => %(ago)s), 'epoch') "
        "      + interval '20 s' AS f) t, generate_series(1, %(n)s)",
        {"queue": queue, "task": task, "state": state, "run": run_s, "wait": wait_s,
         "errors": errors, "ago": minutes_ago, "n": n},
    )


def rows(conn: psycopg.Connection[Any], width: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT queue, task, succeeded, dead, cancelled, failed_attempts, run_hist, wait_hist "
        "FROM pgqueue.job_history WHERE width_s = %s ORDER BY bucket, queue, task", (width,)
    ).fetchall()


def test_tick_rolls_each_finished_job_up_once(conn: psycopg.Connection[Any]) -> None:
    finished(conn, minutes_ago=3, n=40, run_s=0.2, wait_s=1.5)
    finished(conn, minutes_ago=3, n=10, state="dead", errors=3, run_s=3.0, wait_s=0.03)
    finished(conn, minutes_ago=2, n=5, task="app.mail", queue="emails", run_s=0.004, wait_s=0.0)
    assert history.tick(conn, [{"queue": "reports", "queued": 7, "scheduled": 1, "running": 2,
                                "waiting": 0, "dead": 10}])
    minutes = rows(conn, 60)
    assert [(q, t, s, d, c, f) for q, t, s, d, c, f, _, _ in minutes] == [
        ("reports", "app.report", 40, 10, 0, 30), ("emails", "app.mail", 5, 0, 0, 0)]
    run_hist = minutes[0][6]
    assert len(run_hist) == history.SLOTS and sum(run_hist) == 50
    assert run_hist[history.slot_of(0.2)] == 40 and run_hist[history.slot_of(3.0)] == 10
    assert minutes[0][7][history.slot_of(1.5)] == 40
    # Hour rows are the sums of their minutes (two rows: the minutes may straddle an hour).
    assert sum(r[2] for r in rows(conn, 3600)) == 45
    assert conn.execute("SELECT queued, running FROM pgqueue.queue_history").fetchall() == [(7, 2)]

    # A second tick finds nothing new below the watermark: nothing is counted twice.
    assert history.tick(conn)
    assert rows(conn, 60) == minutes
    # A job finishing now is left for a later tick (its minute has not ended).
    finished(conn, minutes_ago=0, n=3)
    history.tick(conn)
    assert sum(r[2] for r in rows(conn, 60)) == 45


def test_tick_prunes_and_yields_to_a_concurrent_holder(dsn: str, conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO pgqueue.job_history (width_s, bucket, queue, task, run_hist, wait_hist) VALUES "
        "(60, now() - interval '27 hours', 'q', 't', '{}', '{}'), "
        "(3600, now() - interval '16 days', 'q', 't', '{}', '{}'), "
        "(3600, now() - interval '13 days', 'q', 't', '{}', '{}')"
    )
    conn.execute("INSERT INTO pgqueue.queue_history VALUES (now() - interval '27 hours', 'q', 1, 0, 0, 0, 0)")
    with psycopg.connect(dsn, autocommit=True) as other, history.leader(other, "history") as held:
        assert held
        assert history.tick(conn) is False  # the holder does the work; nobody waits
    assert history.tick(conn)
    left = conn.execute(
        "SELECT width_s, bucket > now() - interval '14 days' FROM pgqueue.job_history"
    ).fetchall()
    assert left == [(3600, True)]
    assert conn.execute("SELECT count(*) FROM pgqueue.queue_history").fetchone() == (0,)


def test_percentiles_from_a_histogram() -> None:
    hist = [0] * history.SLOTS
    assert history.percentile(hist, 0.5) is None
    hist[history.slot_of(0.3)] = 100  # all in [0.25, 0.5)
    p50 = history.percentile(hist, 0.5)
    assert p50 is not None and 0.25 <= p50 <= 0.5
    hist[history.slot_of(7200)] = 1
    assert history.percentile(hist, 1.0) == 3600.0


def test_reads_for_the_charts_and_the_task_page(app: pgqueue.App, conn: psycopg.Connection[Any]) -> None:
    finished(conn, minutes_ago=5, n=30, run_s=0.2)
    finished(conn, minutes_ago=5, n=10, state="dead", errors=2)
    finished(conn, minutes_ago=65, n=4, task="app.mail", queue="emails")
    history.tick(conn)
    day = history.throughput(app, 24 * 3600)
    assert day["width_s"] == 60 and 1437 <= len(day["points"]) <= 1440
    assert sum(p["succeeded"] for p in day["points"]) == 34
    busy = next(p for p in day["points"] if p["dead"])
    assert busy["failure_rate"] == pytest.approx(20 / 50)
    assert busy["run_p50"] is not None and 0.1 <= busy["run_p50"] <= 0.25
    fortnight = history.throughput(app, 14 * 24 * 3600, task="app.mail")
    assert fortnight["width_s"] == 3600 and sum(p["succeeded"] for p in fortnight["points"]) == 4
    by_task = {t["task"]: t for t in history.tasks(app)}
    assert by_task["app.report"]["finished"] == 40 and by_task["app.report"]["dead"] == 10
    assert by_task["app.mail"]["run_p95"] is not None


def test_the_maintenance_service_keeps_history_with_no_dashboard_or_exporter(
    app: pgqueue.App, conn: psycopg.Connection[Any]
) -> None:
    import time
    import uuid

    from pgqueue._maintenance.config import MaintenanceConfig
    from pgqueue._maintenance.service import Maintenance
    from pgqueue._worker.config import WorkerConfig

    assert WorkerConfig().maintenance.history  # every worker offers, one per tick does it
    finished(conn, minutes_ago=3, n=4)
    maintenance = Maintenance(
        MaintenanceConfig(rescue=False, retention=False, cron=False, history_interval=0.05),
        app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=3.0,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not rows(conn, 60) and time.monotonic() < deadline:
        maintenance.run_once()
        time.sleep(0.01)
    assert [r[:3] for r in rows(conn, 60)] == [("reports", "app.report", 4)]


def test_no_history_duty_when_turned_off(app: pgqueue.App) -> None:
    import uuid

    from pgqueue._maintenance.config import MaintenanceConfig
    from pgqueue._maintenance.service import Maintenance
    from pgqueue.errors import ConfigurationError

    off = Maintenance(
        MaintenanceConfig(rescue=False, retention=False, cron=False, history=False),
        app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=3.0,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip
    assert off.run_once() is None  # no duty at all
    with pytest.raises(ConfigurationError, match="history_interval"):
        MaintenanceConfig(history_interval=0)
