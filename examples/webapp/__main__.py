"""``python -m examples.webapp`` (``make example``): the whole stack in one command.

It finds the database (PGQUEUE_DSN, else DATABASE_URL, else the embedded server,
started on demand and left running: ``pgqueue db stop`` stops it), migrates the
pgqueue schema, creates the example's tables, then runs three processes in a
process group of their own:

- the web app (uvicorn, ``examples.webapp.web:api``),
- a worker (``pgqueue work --app examples.webapp.tasks:app``),
- the dashboard (``pgqueue dashboard``).

Ctrl-C (or SIGTERM) sends one SIGTERM to that group: the web servers stop, the
worker finishes its running jobs. A second Ctrl-C, or the grace period running
out, kills the group. If any of the three dies on its own, the others are stopped
too and the exit code is 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

import pgqueue

from . import models

ROOT = Path(__file__).resolve().parents[2]
APP = "examples.webapp.tasks:app"
WORKER_SHUTDOWN_S = 10.0
GRACE_S = WORKER_SHUTDOWN_S + 10.0
"""After the first SIGTERM, how long the group gets before SIGKILL."""
STARTUP_S = 60.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.webapp", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface for the web app and dashboard")
    parser.add_argument("--port", type=int, default=8000, help="web app port (default 8000)")
    parser.add_argument("--dashboard-port", type=int, default=8080, help="dashboard port (default 8080)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs the worker runs at once")
    return parser.parse_args(argv)


class Stack:
    """The three child processes, in one process group."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.pgid: int | None = None

    def start(self, name: str, argv: list[str]) -> None:
        # The first child leads a new group; the others join it. The terminal's Ctrl-C
        # then reaches only this launcher, which stops the group with one signal.
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, process_group=self.pgid or 0)
        self.pgid = self.pgid or proc.pid
        self.children[name] = proc

    def exited(self) -> list[str]:
        return [name for name, proc in self.children.items() if proc.poll() is not None]

    def signal(self, sig: signal.Signals) -> None:
        if self.pgid is None:
            return
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass  # every member is gone already

    def wait(self, deadline: float, force: threading.Event) -> bool:
        """Wait for every child until ``deadline`` or ``force``; True if all exited."""
        while time.monotonic() < deadline and not force.is_set():
            if len(self.exited()) == len(self.children):
                return True
            force.wait(0.1)
        return len(self.exited()) == len(self.children)


def _wait_http(url: str, stack: Stack, stop: threading.Event) -> bool:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and not stop.is_set() and not stack.exited():
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    source = next((v for v in ("PGQUEUE_DSN", "DATABASE_URL") if os.environ.get(v)), None)
    dsn = pgqueue.resolve_dsn()  # starts the embedded server when nothing else is configured
    print(f"database: {'$' + source if source else 'the embedded server (pgqueue db stop stops it)'}",
          flush=True)
    env = dict(os.environ, PGQUEUE_DSN=dsn, PYTHONPATH=os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH")])))
    subprocess.run([sys.executable, "-m", "pgqueue.cli", "migrate"], env=env, check=True)
    models.create_all(dsn)

    stop, force = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        (force if stop.is_set() else stop).set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = Stack(env)
    python = sys.executable
    web = f"http://{args.host}:{args.port}"
    dashboard = f"http://{args.host}:{args.dashboard_port}"
    stack.start("web", [python, "-m", "uvicorn", "examples.webapp.web:api",
                        "--host", args.host, "--port", str(args.port)])
    stack.start("worker", [python, "-m", "pgqueue.cli", "work", "--app", APP,
                           "--concurrency", str(args.concurrency),
                           "--shutdown-timeout", str(WORKER_SHUTDOWN_S)])
    stack.start("dashboard", [python, "-m", "pgqueue.cli", "dashboard",
                              "--host", args.host, "--port", str(args.dashboard_port)])
    pids = ", ".join(f"{name} pid {proc.pid}" for name, proc in stack.children.items())
    print(f"started {pids} (process group {stack.pgid})", flush=True)

    if _wait_http(f"{web}/healthz", stack, stop) and _wait_http(f"{dashboard}/healthz", stack, stop):
        print(_banner(web, dashboard), flush=True)
    code = 0
    while not stop.is_set():
        dead = stack.exited()
        if dead:
            print(f"{', '.join(dead)} exited on its own; stopping the others", file=sys.stderr)
            code = 1
            break
        stop.wait(0.25)

    print("stopping: web app, worker (running jobs may finish), dashboard", flush=True)
    stack.signal(signal.SIGTERM)
    if not stack.wait(time.monotonic() + GRACE_S, force):
        print("killing what is left", file=sys.stderr, flush=True)
        stack.signal(signal.SIGKILL)
        stack.wait(time.monotonic() + 5, threading.Event())
    print("stopped", flush=True)
    return code


def _banner(web: str, dashboard: str) -> str:
    json = "-H 'content-type: application/json'"
    return f"""
  pgqueue example is up.   Ctrl-C stops everything.

  web app      {web}      (interactive API docs: {web}/docs)
  dashboard    {dashboard}

  Try it:
    curl -s -X POST {web}/signup {json} -d '{{"email": "ada@example.com", "name": "Ada"}}'
    curl -s -F file=@README.md {web}/documents
    curl -s -F 'file=@README.md;filename=flaky.md' {web}/documents    # retried once
    curl -s -X POST {web}/reports {json} -d '{{"parts": 4}}'         # then poll:
    curl -s {web}/jobs/JOB_ID
"""


if __name__ == "__main__":
    sys.exit(main())
