"""`pgqueue schedules ...` as a subprocess against a real database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import psycopg

import pgqueue
from pgqueue._maintenance.cron import Scheduler


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, "schedules", *args],
                          capture_output=True, text=True, timeout=60)


def test_schedules_ls_disable_enable_run_now(dsn: str, conn: psycopg.Connection) -> None:
    with pgqueue.App(dsn=dsn) as app:
        @app.periodic(cron="0 3 * * *", timezone="Europe/Paris", args=(1,))
        @app.task(name="nightly_cleanup", queue="maintenance")
        def nightly_cleanup(days: int) -> None: ...

        Scheduler(app).sync()

    listed = _cli(dsn, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["name"], row["cron"], row["timezone"], row["enabled"]) == (
        "nightly_cleanup", "0 3 * * *", "Europe/Paris", True)
    assert "nightly_cleanup" in _cli(dsn, "ls").stdout

    assert _cli(dsn, "disable", "nightly_cleanup").returncode == 0
    assert conn.execute("SELECT enabled FROM pgqueue.schedules").fetchone() == (False,)
    assert _cli(dsn, "enable", "nightly_cleanup").returncode == 0
    assert conn.execute("SELECT enabled, next_fire_at FROM pgqueue.schedules").fetchone() == (True, None)

    ran = _cli(dsn, "run-now", "nightly_cleanup", "--json")
    assert ran.returncode == 0, ran.stderr
    job_id = json.loads(ran.stdout)["job_id"]
    assert conn.execute("SELECT task, queue, args FROM pgqueue.jobs WHERE id = %s", [job_id]).fetchone() == (
        "nightly_cleanup", "maintenance", [1])

    for verb in ("disable", "enable", "run-now"):
        missing = _cli(dsn, verb, "nope")
        assert missing.returncode == 1
        assert "no schedule named 'nope'" in missing.stderr


def test_interval_definition_is_listed(dsn: str) -> None:
    with pgqueue.App(dsn=dsn) as app:
        app.add_schedule("heartbeat", "ping", interval=timedelta(seconds=30))
        Scheduler(app).sync()
    (row,) = json.loads(_cli(dsn, "ls", "--json").stdout)
    assert (row["task"], row["interval_s"], row["cron"]) == ("ping", 30.0, None)
