"""``--log-format json`` on the daemons: every line a worker writes is one JSON object."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

import pgqueue

from ..helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_worker_logs_json_lines_with_job_fields(
    dsn: str, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    with pgqueue.App(dsn=dsn) as pq:
        job_id = pq.enqueue("e2e.flaky", [3], queue="e2e", max_attempts=1).id
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "PGQUEUE_DSN": dsn, "E2E_FAIL_FLAG": str(flag)}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgqueue.cli", "work", "--app", "tests.dashboard.e2e_app:app",
             "--queues", "e2e", "--log-format", "json", "--log-level", "DEBUG"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        state = "SELECT state FROM pgqueue.jobs WHERE id = %s"
        wait_for(lambda: (conn.execute(state, (job_id,)).fetchone() or [None])[0] == "dead", timeout=60)

        def dead_line() -> list[dict[str, Any]]:
            lines = [ln for ln in log_path.read_text().splitlines() if ln.strip()]
            entries = [json.loads(ln) for ln in lines]  # every line parses
            return [e for e in entries if e.get("job_id") == job_id and e["level"] == "WARNING"]

        [entry] = wait_for(dead_line, timeout=30)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    assert entry["task"] == "e2e.flaky" and entry["queue"] == "e2e"
    assert entry["logger"].startswith("pgqueue") and entry["ts"].endswith("+00:00")
    for line in log_path.read_text().splitlines():
        if line.strip():
            json.loads(line)
