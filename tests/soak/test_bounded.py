"""Every pgqueue table stays bounded under steady load (invariant 11).

Real `pgqueue work` processes run a steady mix (5 % failing with a retry, then dead; a
rate-limited queue; chains with dependency rows; cancellations; a schedule every second)
while one of them is restarted every few seconds. Beside them runs the maintenance service,
configured with seconds of retention (finished jobs, tick slots) so that bounds show in a
short run; the workers run their own with the defaults, under the same elections.

Each table has a bound that does not grow with the run's length, and every table of
``pgqueue.schema.metadata`` must have one here (a new table without a bound fails).
The default run is the short form (a few seconds); ``PGQUEUE_SLOW=1`` runs the long form
for ``PGQUEUE_SOAK_S`` seconds (default 120).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import pgqueue
from pgqueue._maintenance.config import MaintenanceConfig
from pgqueue._maintenance.service import Maintenance
from pgqueue._settings import Retention
from pgqueue.schema import metadata
from pgqueue.workflow import chain
from tests.helpers import wait_for
from tests.soak import soak_app
from tests.worker.conftest import Workers

APP = "tests.soak.soak_app:app"
SHORT_S = 6.0
LONG_S = float(os.environ.get("PGQUEUE_SOAK_S", "120"))
WORKERS = 2
RESTART_EVERY_S = 3.0
RETENTION_S = 1.0
TICK_RETENTION_S = 2.0
MAINTENANCE_S = 0.5
RATE = 200
"""soak.rl's rate limit (starts per second)."""

# Per table: the most rows it may hold at any sample, whatever the run's length.
# jobs: the load enqueues ~LOAD_PER_S jobs/s; finished ones live RETENTION_S plus a
# maintenance interval, due ones as long as the workers take (they keep up).
LOAD_PER_S = 300
BOUNDS = {
    "jobs": LOAD_PER_S * 20,
    "queues": 10,
    "queue_starts": RATE * 2,
    "workers": WORKERS + 1,  # a restarted worker's row goes as it deregisters
    "schedules": 5,
    "job_dependencies": LOAD_PER_S * 20,
    "schedule_ticks": 2 * int(TICK_RETENTION_S + 10 * MAINTENANCE_S) + 10,
    "job_history": 1000,  # written and pruned by the history tick (not run here): empty
    "queue_history": 1000,
    "history_watermark": 1,
    "task_limits": 1,  # one row per rate-limited task (soak.paced)
    "task_starts": 100 * 2,  # each claim keeps one period of soak.paced's starts (100/s)
}


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    counts = {}
    for name in metadata.tables:
        schema, table = name.split(".")
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        row = conn.execute(query).fetchone()
        assert row is not None
        counts[table] = int(row[0])
    return counts


@pytest.fixture
def soak(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pgqueue.App]:
    monkeypatch.setattr(soak_app.app, "_dsn", dsn)
    monkeypatch.setattr(soak_app.app, "_resolved_dsn", None)
    yield soak_app.app
    soak_app.app.close()


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param(SHORT_S, id="short"),
        pytest.param(LONG_S, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(LONG_S + 300)]),
    ],
)
def test_every_table_stays_bounded(
    soak: pgqueue.App, dsn: str, conn: psycopg.Connection, tmp_path: Path, seconds: float
) -> None:
    assert {n.split(".")[1] for n in metadata.tables} == set(BOUNDS), "give every table a bound"
    soak.queues.set_limits("soak.rl", rate=f"{RATE}/s")
    workers = Workers(dsn, tmp_path)
    maintenance = Maintenance(
        MaintenanceConfig(
            rescue=False,
            retention_interval=MAINTENANCE_S,
            retention_policy=Retention(*(timedelta(seconds=RETENTION_S),) * 3),
            tick_retention=TICK_RETENTION_S,
            tick_prune_interval=MAINTENANCE_S,
        ),
        app=soak, pool=soak.pool, worker_id=uuid.uuid4(), heartbeat_interval=3.0,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip
    pace = threading.Event()  # paces the load; nothing waits on it
    samples: list[dict[str, int]] = []
    enqueued = 0
    try:
        procs = [workers.start("-q", "soak,soak.rl", "--concurrency", "8", app=APP) for _ in range(WORKERS)]
        workers.wait_registered(WORKERS)
        maintenance.start()
        started = time.monotonic()
        next_restart = started + RESTART_EVERY_S
        next_sample = started
        i = 0
        while time.monotonic() - started < seconds:
            batch = list(range(i, i + LOAD_PER_S // 10))
            i += len(batch)
            soak_app.work.enqueue_many([(n,) for n in batch])
            soak_app.limited.enqueue_many([(n,) for n in batch[:10]])
            soak_app.paced.enqueue_many([(n,) for n in batch[:5]])
            chain(soak_app.work.s(i * 20 + 1), soak_app.work.s(), soak_app.work.s()).enqueue()
            soak_app.work.configure(delay=60).enqueue(1).cancel()
            enqueued += len(batch) + 10 + 5 + 3 + 1
            now = time.monotonic()
            if now >= next_restart:  # a worker restart: graceful stop, then a new process
                old = procs.pop(0)
                old.terminate()
                assert old.wait(timeout=60) == 0
                procs.append(workers.start("-q", "soak,soak.rl", "--concurrency", "8", app=APP))
                next_restart = now + RESTART_EVERY_S
            if now >= next_sample:
                samples.append(_counts(conn))
                next_sample = now + 1.0
            pace.wait(0.1)

        # Nothing lost: every job the load made reaches a terminal state (or was pruned).
        def pending() -> list[tuple[object, ...]]:
            return conn.execute(
                "SELECT task, state, count(*), min(run_at) FROM pgqueue.jobs "
                "WHERE state IN ('queued', 'running', 'waiting') AND task <> 'soak.tick' "
                "AND (state = 'cancelled' OR cancel_requested_at IS NULL) GROUP BY 1, 2"
            ).fetchall()

        try:
            wait_for(lambda: not pending(), timeout=120)
        except AssertionError:
            raise AssertionError(f"jobs left: {pending()}") from None
        # Converged: finished jobs past retention are gone, the restarted workers' rows too,
        # tick slots down to their retention, no dependency rows left.
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM pgqueue.jobs WHERE finished_at < now() - make_interval(secs => %s)",
                    (RETENTION_S + 4 * MAINTENANCE_S,),
                ).fetchone()
                == (0,)
            ),
            timeout=60,
        )
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM pgqueue.schedule_ticks "
                    "WHERE fired_at < now() - make_interval(secs => %s)",
                    (TICK_RETENTION_S + 4 * MAINTENANCE_S,),
                ).fetchone()
                == (0,)
            ),
            timeout=60,
        )
        wait_for(lambda: _counts(conn)["workers"] == WORKERS, timeout=30)
        wait_for(lambda: _counts(conn)["job_dependencies"] == 0, timeout=60)
        samples.append(_counts(conn))
    finally:
        maintenance.stop()
        workers.cleanup()

    assert len(samples) >= 3 and enqueued > 0
    for table, bound in BOUNDS.items():
        worst = max(s[table] for s in samples)
        series = [s[table] for s in samples]
        assert worst <= bound, f"{table}: {worst} rows at worst, bound {bound} ({series})"
    # The tick slots were pruned while the schedule fired every second.
    ticks = conn.execute(
        "SELECT count(*), min(fire_at) > now() - interval '30 seconds' FROM pgqueue.schedule_ticks"
    )
    count, recent = ticks.fetchone() or (0, False)
    assert count <= BOUNDS["schedule_ticks"] and (seconds < 2 * TICK_RETENTION_S + 5 or recent)
