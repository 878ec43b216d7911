"""The cron service on a real database: exactly one job per tick."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import psycopg

import pgqueue
from pgqueue._maintenance.cron import Scheduler, run_now
from tests.helpers import wait_for

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _app(dsn: str, misfire: str = "all", seconds: int = 10) -> pgqueue.App:
    app = pgqueue.App(dsn=dsn)

    @app.periodic(interval=timedelta(seconds=seconds), misfire=misfire, args=(7,))
    @app.task(name="report", queue="cron")
    def report(x: int) -> int:
        return x

    return app


def _jobs(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT j.task, j.queue, j.args, t.fire_at FROM pgqueue.jobs j "
        "JOIN pgqueue.schedule_ticks t ON t.job_id = j.id ORDER BY t.fire_at"
    ).fetchall()


def test_ticks_fire_once_each_and_follow_the_clock(dsn: str, conn: psycopg.Connection) -> None:
    clock = FakeClock(T0 + timedelta(seconds=1))
    with _app(dsn) as app:
        sched = Scheduler(app, clock=clock)
        sched.sync()
        assert sched.tick() > 0  # first tick is T0+10s
        assert _jobs(conn) == []
        clock.now = T0 + timedelta(seconds=10, milliseconds=5)
        sched.tick()
        sched.tick()  # same moment again: nothing new
        clock.now = T0 + timedelta(seconds=20)
        sched.sync()  # a restart re-registers without moving the schedule
        sched.tick()
    rows = _jobs(conn)
    assert [(r[0], r[1], r[2]) for r in rows] == [("report", "cron", [7])] * 2
    assert [r[3] for r in rows] == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]


def test_missed_ticks_follow_misfire_all(dsn: str, conn: psycopg.Connection) -> None:
    clock = FakeClock(T0 + timedelta(seconds=1))
    with _app(dsn, misfire="all") as app:
        sched = Scheduler(app, clock=clock)
        sched.sync()
        clock.now = T0 + timedelta(seconds=65)  # an outage: ticks 10..60 missed
        sched.tick()
    assert len(_jobs(conn)) == 6


def test_racing_schedulers_fire_each_tick_once(dsn: str, conn: psycopg.Connection) -> None:
    clock = FakeClock(T0 + timedelta(seconds=1))
    apps = [_app(dsn) for _ in range(4)]
    schedulers = [Scheduler(a, clock=clock) for a in apps]
    schedulers[0].sync()
    for step in range(1, 6):
        clock.now = T0 + timedelta(seconds=10 * step)
        barrier = threading.Barrier(len(schedulers))

        def run(s: Scheduler, gate: threading.Barrier) -> None:
            gate.wait()
            s.tick()

        threads = [threading.Thread(target=run, args=(s, barrier)) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for a in apps:
        a.close()
    fires = [r[3] for r in _jobs(conn)]
    assert fires == [T0 + timedelta(seconds=10 * s) for s in range(1, 6)]
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (5,)


def test_disable_enable_and_run_now(dsn: str, conn: psycopg.Connection) -> None:
    clock = FakeClock(T0 + timedelta(seconds=1))
    with _app(dsn) as app:
        sched = Scheduler(app, clock=clock)
        sched.sync()
        conn.execute("UPDATE pgqueue.schedules SET enabled = false")
        clock.now = T0 + timedelta(seconds=30)
        sched.tick()
        assert _jobs(conn) == []
        job_id = run_now(app, "report")
        assert job_id is not None
        assert run_now(app, "nope") is None
        # re-enabling (next_fire_at reset) starts from the next tick, no burst
        conn.execute("UPDATE pgqueue.schedules SET enabled = true, next_fire_at = NULL")
        clock.now = T0 + timedelta(seconds=95)
        sched.tick()
        clock.now = T0 + timedelta(seconds=100)
        sched.tick()
    assert [r[3] for r in _jobs(conn)] == [T0 + timedelta(seconds=100)]
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (2,)


def _fired(conn: psycopg.Connection) -> list[tuple[datetime, object]]:
    return conn.execute(
        "SELECT t.fire_at, t.fired_by FROM pgqueue.schedule_ticks t"
        " JOIN pgqueue.jobs j ON j.id = t.job_id ORDER BY 1"
    ).fetchall()


def test_three_workers_fire_one_job_per_tick_and_survive_killing_the_last_firer(dsn: str) -> None:
    env = {**os.environ, "PGQUEUE_DSN": dsn}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pgqueue.cli", "work", "--app", "tests.flow.cron_app:app",
             "-q", "cron", "--concurrency", "2"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(3)
    ]
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_for(lambda: conn.execute(
                "SELECT count(*) FROM pgqueue.workers").fetchone()[0] == 3, timeout=30)
            fired = wait_for(lambda: (rows := _fired(conn)) and len(rows) >= 3 and rows, timeout=30)
            last_firer = fired[-1][1]
            worker_pids = dict(conn.execute("SELECT id, pid FROM pgqueue.workers").fetchall())
            victim = next(p for p in procs if p.pid == worker_pids[last_firer])
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            seen = len(fired)
            wait_for(lambda: len(_fired(conn)) >= seen + 4, timeout=30)
        for p in procs:
            if p is not victim:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=40)
        with psycopg.connect(dsn) as conn:
            rows = _fired(conn)
            fires = [r[0] for r in rows]
            total = conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone()[0]
            firers = {r[1] for r in rows}
        assert total == len(fires) == len(set(fires))
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
        assert gaps and all(g == 1.0 for g in gaps), gaps
        assert len(firers) >= 2  # the next ticks were fired by a surviving worker
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
