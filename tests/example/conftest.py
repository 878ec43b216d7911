"""The example web application, driven over HTTP with real processes.

One database per module (cloned from the migrated template), the example's tables
created in it, a uvicorn process serving ``examples.webapp.web:api`` on a free port
and a ``pgqueue work`` process serving ``examples.webapp.tasks:app``, both pointed at
that database through PGQUEUE_DSN.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psycopg
import pytest

from tests.conftest import RUN_ID, create_database, drop_database
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def child_env(dsn: str) -> dict[str, str]:
    env = dict(os.environ, PGQUEUE_DSN=dsn, PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    return env


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Signal the process group ``proc`` leads; SIGKILL it if it outlives ``timeout``."""
    for s in (sig, signal.SIGKILL):
        try:
            os.killpg(proc.pid, s)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Stack:
    dsn: str
    http: httpx.Client
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    logs: Path

    def sql(self, statement: str, params: object = None) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def stack(pg_server: str, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from examples.webapp import models

    name = f"pgq_example_{RUN_ID}"
    dsn = create_database(pg_server, name, template=template_db)
    logs = tmp_path_factory.mktemp("webapp")
    procs: list[subprocess.Popen[bytes]] = []
    outputs: list[IO[bytes]] = []
    try:
        models.create_all(dsn)
        models.engine(dsn).dispose()
        port = free_port()

        def start(label: str, argv: list[str]) -> subprocess.Popen[bytes]:
            out = open(logs / f"{label}.log", "wb")
            outputs.append(out)
            proc = subprocess.Popen(argv, cwd=ROOT, env=child_env(dsn), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(proc)
            return proc

        web = start("web", [sys.executable, "-m", "uvicorn", "examples.webapp.web:api",
                            "--host", "127.0.0.1", "--port", str(port)])
        worker = start("worker", [sys.executable, "-m", "pgqueue.cli", "work",
                                  "--app", "examples.webapp.tasks:app", "--concurrency", "4"])
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

        def web_up() -> bool:
            assert web.poll() is None, (logs / "web.log").read_text()
            try:
                return http.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(web_up, timeout=STARTUP_S, interval=0.1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (1,),
                     timeout=STARTUP_S, interval=0.1)
        yield Stack(dsn, http, web, worker, logs)
        http.close()
    finally:
        for proc in procs:
            stop_group(proc)
        for out in outputs:
            out.close()
        drop_database(pg_server, name)
