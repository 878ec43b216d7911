"""A rescued job fires ``job_rescued`` and counts (``stats.rescued`` feeds
``pgqueue_jobs_rescued_total``), through the maintenance service and the reporter."""

from __future__ import annotations

import uuid

import psycopg

import pgqueue
from pgqueue._hooks import JobEvent
from pgqueue._maintenance.config import MaintenanceConfig
from pgqueue._maintenance.service import Maintenance
from pgqueue._worker.events import WorkerEvent, WorkerStats
from pgqueue._worker.reporter import Reporter
from pgqueue._worker.wakeup import Wake


def test_a_rescued_job_fires_job_rescued_and_counts(app: pgqueue.App, conn: psycopg.Connection) -> None:
    lost, rescuer = uuid.uuid4(), uuid.uuid4()
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, attempt, worker_id, started_at, lease_expires_at) "
        "VALUES ('t.lost', 'running', 1, %s, now() - interval '1 minute', now() - interval '30 seconds') "
        "RETURNING id",
        (lost,),
    ).fetchone()
    assert row is not None
    job_id = row[0]
    fired: list[JobEvent] = []
    app.on("job_rescued")(fired.append)
    events: list[WorkerEvent] = []
    stats = WorkerStats()
    reporter = Reporter(app.hooks, events.append, stats, Wake(1))
    maintenance = Maintenance(
        MaintenanceConfig(retention=False, cron=False),
        app=app, pool=app.pool, worker_id=rescuer, heartbeat_interval=0.001,
        healthy_since=lambda: 0.0, on_rescued=reporter.rescued,
    )  # fmt: skip
    maintenance.run_once()

    assert [(e.name, e.job.id, e.job.state, e.worker_id) for e in fired] == [
        ("job_rescued", job_id, pgqueue.JobState.QUEUED, rescuer)
    ]
    assert fired[0].error is not None and fired[0].error.startswith("WorkerLost")
    assert fired[0].job.errors[-1]["type"] == "pgqueue.WorkerLost"
    assert stats.rescued == 1 and [(e.kind, e.job_id) for e in events] == [("rescued", job_id)]
