"""The workers' retention pass keeps finished jobs as long as the App's retention_*_s say."""

from __future__ import annotations

import uuid

import psycopg

import pgqueue
from pgqueue._maintenance.config import MaintenanceConfig
from pgqueue._maintenance.service import Maintenance
from tests.helpers import wait_for


def test_retention_pass_uses_the_app_settings(dsn: str, conn: psycopg.Connection) -> None:
    with pgqueue.App(dsn=dsn, retention_succeeded_s=60, retention_dead_s=None) as app:
        @app.task(name="ret.noop")
        def noop() -> None: ...

        old_ok, old_dead, fresh_ok = (noop.enqueue().id for _ in range(3))
        conn.execute(
            "UPDATE pgqueue.jobs SET state = CASE WHEN id = %s THEN 'dead' ELSE 'succeeded' END,"
            " finished_at = now() - CASE WHEN id = %s THEN interval '1 second'"
            "                            ELSE interval '1 hour' END WHERE id = ANY(%s)",
            [old_dead, fresh_ok, [old_ok, old_dead, fresh_ok]],
        )
        service = Maintenance(
            MaintenanceConfig(rescue=False, retention=True, retention_interval=0.05, cron=False),
            app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=1.0,
            healthy_since=lambda: None, on_rescued=lambda jobs: None,
        )
        service.start()
        try:
            def left() -> set[int]:
                rows = conn.execute("SELECT id FROM pgqueue.jobs").fetchall()
                return {r[0] for r in rows}

            # an hour-old success is past the app's 60 s (the built-in default keeps 7 days)
            wait_for(lambda: old_ok not in left(), timeout=30)
            assert {old_dead, fresh_ok} <= left()  # dead kept for ever; the fresh one kept
        finally:
            service.stop()
