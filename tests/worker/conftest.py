"""Worker tests: real worker processes against the per-test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.worker.tasks_app:app"

EXEC_LOG = """
CREATE TABLE exec_log (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL,
    attempt     int NOT NULL,
    pid         int NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
)
"""


@pytest.fixture
def exec_log(conn: psycopg.Connection) -> psycopg.Connection:
    """Creates the execution log the test tasks write to; returns the test connection."""
    conn.execute(EXEC_LOG)
    return conn


@pytest.fixture
def task_app(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The test task app, pointed at this test's database (for in-process workers)."""
    from tests.worker import tasks_app

    monkeypatch.setattr(tasks_app.app, "_dsn", dsn)
    monkeypatch.setattr(tasks_app.app, "_resolved_dsn", None)
    tasks_app.app.close()
    yield tasks_app
    tasks_app.app.close()


class Workers:
    """Starts ``pgqueue work`` subprocesses; kills whatever is left at teardown."""

    def __init__(self, dsn: str, tmp: Path) -> None:
        self.dsn = dsn
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, app: str = APP) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        log = open(self.tmp / f"worker-{n}.log", "wb")
        env = dict(os.environ, PGQUEUE_DSN=self.dsn, PYTHONPATH=str(ROOT))
        env.pop("DATABASE_URL", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgqueue.cli", "--dsn", self.dsn, "work", "--app", app, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def log(self, n: int) -> str:
        return (self.tmp / f"worker-{n}.log").read_text(errors="replace")

    def registered(self) -> list[tuple[str, int]]:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            rows = c.execute("SELECT id::text, pid FROM pgqueue.workers ORDER BY started_at").fetchall()
        return [(r[0], r[1]) for r in rows]

    def wait_registered(self, count: int, timeout: float = 30.0) -> list[tuple[str, int]]:
        return wait_for(lambda: len(self.registered()) >= count and self.registered(), timeout)

    def cleanup(self) -> None:
        pids = {p.pid for p in self.procs}
        try:
            pids |= {pid for _, pid in self.registered()}
        except psycopg.Error:
            pass
        for pid in pids:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def workers(dsn: str, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(dsn, tmp_path)
    yield w
    w.cleanup()


def insert_jobs(conn: psycopg.Connection, task: str, args_sql: str, count: int, **cols: str) -> None:
    """Bulk-insert ``count`` jobs with plain SQL (``args_sql`` may use ``g``, 1..count)."""
    extra_cols = "".join(f", {k}" for k in cols)
    extra_vals = "".join(f", {v}" for v in cols.values())
    conn.execute(
        f"INSERT INTO pgqueue.jobs (task, args{extra_cols}) "  # noqa: S608 - test-only constants
        f"SELECT %s, {args_sql}{extra_vals} FROM generate_series(1, %s) AS g",
        (task, count),
    )


def succeeded(conn: psycopg.Connection, job_id: int) -> bool:
    """Whether job ``job_id`` has ended ``succeeded`` (for ``wait_for``)."""
    row = conn.execute("SELECT state FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    return row == ("succeeded",)


Counter = Callable[[], int]
