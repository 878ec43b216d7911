"""``make example`` runs ``python -m examples.webapp``: one foreground command that starts
the web app, a worker and the dashboard, and stops them all on Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.example.conftest import ROOT, child_env, free_port, stop_group
from tests.helpers import wait_for


def _make_is_set_up() -> bool:
    """True when ``make example`` would not reinstall first (CI ran ``make install``)."""
    if shutil.which("make") is None:
        return False
    return subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True).returncode == 0


def test_make_example_runs_the_launcher() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # --no-print-directory: under `make test` this make is nested and would announce itself.
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "example", "EXAMPLE_ARGS=--port 1234"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert dry.stdout.splitlines()[-1] == ".venv/bin/python -m examples.webapp --port 1234"


def test_one_command_starts_the_stack_and_ctrl_c_stops_all_of_it(dsn: str, tmp_path: Path) -> None:
    port, dashboard_port = free_port(), free_port()
    args = ["--port", str(port), "--dashboard-port", str(dashboard_port)]
    # `make example` itself where the venv is set up by make (CI); else what it runs.
    via_make = _make_is_set_up()
    argv = ["make", "-s", "example", f"EXAMPLE_ARGS={' '.join(args)}"] if via_make else [
        sys.executable, "-m", "examples.webapp", *args]
    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            argv, cwd=ROOT, env=child_env(dsn), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, like a terminal's foreground job
        )
    try:
        wait_for(lambda: "Ctrl-C stops everything" in log.read_text() or launcher.poll() is not None,
                 timeout=90, interval=0.1)
        text = log.read_text()
        assert launcher.poll() is None, text
        pids = {name: int(pid) for name, pid in re.findall(r"(web|worker|dashboard) pid (\d+)", text)}
        assert set(pids) == {"web", "worker", "dashboard"}

        web = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/healthz", timeout=30).text == "ok"
        created = web.post("/signup", json={"email": "grace@example.com", "name": "Grace"}).json()
        wait_for(lambda: web.get(f"/jobs/{created['welcome_job_id']}").json()["state"] == "succeeded",
                 timeout=60, interval=0.1)
        web.close()

        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
        code = launcher.wait(timeout=60)
        if not via_make:  # make reports the interrupt with its own exit code
            assert code == 0, log.read_text()
    finally:
        stop_group(launcher)

    text = log.read_text()
    assert "stopped" in text.splitlines(), text
    for name, pid in pids.items():  # reaped by the launcher: gone, not zombies
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"{name} (pid {pid}) outlived the launcher")
    with psycopg.connect(dsn, autocommit=True) as conn:  # the worker shut down cleanly
        alive = conn.execute("SELECT count(*) FROM pgqueue.workers_status WHERE status = 'alive'")
        assert alive.fetchone() == (0,)
