"""Versions and deploys (invariant 10, docs/upgrading.md), with real worker processes.

- A worker of this code against a schema one revision behind its head refuses to start:
  one sentence naming both revisions and ``pgqueue migrate``, exit code 4, nothing written.
  After ``pgqueue migrate`` it runs jobs.
- A worker of the previous release (the package as it was before the newest migration,
  unpacked from git) keeps running jobs after this release's migration has run.
- A worker of this code against a schema from a newer release warns and works.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory

from pgqueue import _migrate
from pgqueue._db import MIGRATE_HINT
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.worker.rolling_app:old"
NEWEST = f"migrations/versions/{_migrate.head()}_"


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(_migrate._config())
    revision = script.get_revision(_migrate.head())
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


class Procs:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def work(self, dsn: str, *, release: Path = ROOT) -> subprocess.Popen[str]:
        """``pgqueue work`` of the package in ``release`` (``-m`` puts the working
        directory first on sys.path), with this checkout's tests package after it."""
        pythonpath = os.pathsep.join(dict.fromkeys([str(release), str(ROOT)]))
        env = dict(os.environ, PYTHONPATH=pythonpath)
        env.pop("DATABASE_URL", None)
        env.pop("PGQUEUE_DSN", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, "work", "--app", APP, "-q", "rolling"],
            cwd=release, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def procs() -> Iterator[Procs]:
    p = Procs()
    yield p
    p.stop()


def _enqueue(conn: psycopg.Connection, x: int) -> int:
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, queue, args) VALUES ('rolling.known', 'rolling', %s) RETURNING id",
        (psycopg.types.json.Jsonb([x]),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _result(conn: psycopg.Connection, job_id: int) -> tuple[str, object, int] | None:
    row = conn.execute("SELECT state, result, attempt FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    return None if row is None or row[0] in ("queued", "running") else (row[0], row[1], row[2])


def test_a_worker_refuses_a_schema_one_revision_behind_then_works_after_migrate(
    dsn: str, procs: Procs
) -> None:
    previous, head = _previous_revision(), _migrate.head()
    _migrate.upgrade(dsn, previous)  # alembic downgrade -1
    refused = procs.work(dsn)
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 4, out
    assert out.strip().splitlines()[-1] == (
        f"error: the pgqueue schema is at revision {previous}, this pgqueue needs {head}; {MIGRATE_HINT}"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (0,)
        job = _enqueue(conn, 1)  # the previous schema takes jobs meanwhile

    _migrate.upgrade(dsn)  # at head: the same worker starts and runs it
    procs.work(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert wait_for(lambda: _result(conn, job), timeout=60) == ("succeeded", 2, 1)


@pytest.fixture
def previous_release(tmp_path: Path) -> Path:
    """The pgqueue package as it was before the newest migration was added (git archive
    of the commit before it), for PYTHONPATH ahead of this checkout."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of this checkout")
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "-1", "--", f"{NEWEST}*"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not added:
        pytest.skip("the newest migration is not committed yet")
    # With its own migrations: a worker reads its head revision from them at start.
    archive = subprocess.run(
        ["git", "archive", "--format=tar", f"{added}^", "pgqueue", "migrations"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path


def test_the_previous_release_worker_keeps_working_after_this_migration(
    dsn: str, procs: Procs, previous_release: Path
) -> None:
    # dsn is at head: this release's migration has run; the old workers are still up.
    proc = procs.work(dsn, release=previous_release)
    with psycopg.connect(dsn, autocommit=True) as conn:
        jobs = [_enqueue(conn, x) for x in range(20)]
        for job in jobs:
            assert wait_for(lambda job=job: _result(conn, job), timeout=60)[:2] == (
                "succeeded",
                jobs.index(job) + 1,
            )
    # It really is the previous release: its migrations stop one revision before this one's
    # head, so it sees a newer schema (and says so) and works.
    assert not list((previous_release / "migrations" / "versions").glob(f"{_migrate.head()}_*"))
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert f"the pgqueue schema ({_migrate.head()}) is newer than this pgqueue" in out


def test_a_worker_warns_on_a_newer_schema_and_works(dsn: str, procs: Procs) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgqueue.alembic_version SET version_num = 'f00dfeed'")
        job = _enqueue(conn, 41)
        proc = procs.work(dsn)
        assert wait_for(lambda: _result(conn, job), timeout=60) == ("succeeded", 42, 1)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert "the pgqueue schema (f00dfeed) is newer than this pgqueue" in out
