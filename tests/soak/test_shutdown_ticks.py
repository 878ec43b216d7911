"""A worker that is shutting down fires no more schedule ticks (issue 19): a real
`pgqueue work` process with a 1 s schedule is kept in its graceful shutdown by a running
job for a few seconds; the ticks of that time come from nobody."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg

from tests.helpers import wait_for
from tests.worker.conftest import Workers

APP = "tests.soak.shutdown_app:app"
QUIET_S = 3.0
"""How long (database clock) the worker stays in its shutdown before the job may end."""


def test_no_schedule_ticks_fire_once_shutdown_has_begun(
    dsn: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    conn.execute("CREATE TABLE release (x int)")
    workers = Workers(dsn, tmp_path)
    try:
        proc = workers.start("-q", "shutdown", "--shutdown-timeout", "60", app=APP)
        wait_for(lambda: conn.execute("SELECT count(*) FROM pgqueue.schedule_ticks").fetchone()[0] >= 2, 30)
        conn.execute("INSERT INTO pgqueue.jobs (task, queue) VALUES ('shutdown.hold', 'shutdown')")
        wait_for(
            lambda: conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running' "
                                 "AND task = 'shutdown.hold'").fetchone() == (1,),
            30,
        )  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM received" in workers.log(0), 30)
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        began = row[0]
        # The shutdown lasts QUIET_S seconds by the database's clock (3 tick times).
        wait_for(
            lambda: conn.execute("SELECT now() > %s + make_interval(secs => %s)", (began, QUIET_S)).fetchone()
            == (True,),
            30,
        )
        assert proc.poll() is None  # still in its graceful shutdown, holding the job
        conn.execute("INSERT INTO release VALUES (1)")
        assert proc.wait(timeout=60) == 0
        # A tick under way as the signal arrived may still land; none after that.
        late = conn.execute(
            "SELECT count(*) FROM pgqueue.schedule_ticks WHERE fired_at > %s + interval '1 second'", (began,)
        ).fetchone()
        assert late == (0,), workers.log(0)
    finally:
        workers.cleanup()
