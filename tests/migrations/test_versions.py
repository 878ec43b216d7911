"""Versions and deploys (invariant 10, docs/upgrading.md), with real worker processes.

- A worker of this code against a schema one revision behind its head refuses to start:
  one sentence naming both revisions and ``pgqueue migrate``, exit code 4, nothing written.
  After ``pgqueue migrate`` it runs jobs.
- A worker of the previous release (tag v0.1.0, installed in a venv of its own; without the
  tag, the commit before the newest migration) keeps running jobs after this release's
  migrations have run.
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
from dataclasses import dataclass
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

    def work(self, dsn: str, *, python: Path | None = None, cwd: Path = ROOT) -> subprocess.Popen[str]:
        """``pgqueue work`` with ``python`` (default: this venv's) from ``cwd`` (``-m`` puts
        it first on sys.path), which also holds the ``tests`` package of the app."""
        env = dict(os.environ, PYTHONPATH=str(cwd))
        env.pop("DATABASE_URL", None)
        env.pop("PGQUEUE_DSN", None)
        proc = subprocess.Popen(
            [str(python or sys.executable), "-m", "pgqueue.cli", "--dsn", dsn, "work", "--app", APP,
             "-q", "rolling"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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


PREVIOUS_TAG = "v0.1.0"
"""The previous release. Without the tag (a shallow or tag-less clone), the commit before
the newest migration stands in for it."""
RELEASES = ROOT / "build" / "releases"
"""Each release's venv is built once here (pip install of ``git archive`` of its commit)."""


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _release_commit() -> tuple[str, str]:
    """(commit, what it is): the tag's commit, else the commit before the newest migration."""
    tagged = _git("rev-parse", "-q", "--verify", f"refs/tags/{PREVIOUS_TAG}^{{commit}}")
    if tagged:
        return tagged, PREVIOUS_TAG
    added = _git("log", "--diff-filter=A", "--format=%H", "-1", "--", f"{NEWEST}*")
    if not added:
        pytest.skip(f"no tag {PREVIOUS_TAG} and the newest migration is not committed yet")
    return _git("rev-parse", f"{added}^"), f"{added[:12]}^ (no tag {PREVIOUS_TAG} in this clone)"


@dataclass(frozen=True)
class Release:
    commit: str
    name: str
    python: Path
    """The release's own venv: pgqueue installed from its sources (not this checkout)."""
    path: Path
    """For PYTHONPATH: only this checkout's ``tests`` package (the apps the workers serve)."""


@pytest.fixture(scope="module")
def previous_release() -> Release:
    """The previous release, installed in a venv of its own (once: cached under
    build/releases/<commit>, so reruns take no time; the first build takes pip's time)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of this checkout")
    commit, name = _release_commit()
    home = RELEASES / commit
    venv, stamp = home / "venv", home / ".installed"
    if not stamp.exists():
        shutil.rmtree(home, ignore_errors=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(home / "src", filter="data")
        # A venv without pip, filled by this venv's pip (and its download cache), as
        # `make smoke-install` does.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
             f"{home / 'src'}[binary]"],
            check=True, timeout=600,
        )  # fmt: skip
        stamp.write_text(f"{name}\n")
    path = home / "path"
    if not (path / "tests").exists():
        path.mkdir(parents=True, exist_ok=True)
        (path / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    return Release(commit, name, venv / "bin" / "python", path)


def test_the_previous_release_worker_keeps_working_after_this_migration(
    dsn: str, procs: Procs, previous_release: Release
) -> None:
    release = previous_release
    probe = "import pgqueue, pgqueue._migrate as m; print(pgqueue.__file__, m.head())"
    installed = subprocess.run(
        [str(release.python), "-c", probe], cwd=release.path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not installed[0].startswith(str(ROOT / "pgqueue")), installed  # its own copy, not ours
    # dsn is at head: this release's migrations have run; the old workers are still up.
    proc = procs.work(dsn, python=release.python, cwd=release.path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        jobs = [_enqueue(conn, x) for x in range(20)]
        for job in jobs:
            assert wait_for(lambda job=job: _result(conn, job), timeout=60)[:2] == (
                "succeeded",
                jobs.index(job) + 1,
            )
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    # An earlier revision of this checkout's history (0.1.0: 0008, before job expiry); it
    # reads newer schemas without complaint (releases after it also say so in one line).
    script = ScriptDirectory.from_config(_migrate._config())
    assert script.get_revision(installed[1]) is not None, installed


def test_a_worker_warns_on_a_newer_schema_and_works(dsn: str, procs: Procs) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgqueue.alembic_version SET version_num = 'f00dfeed'")
        job = _enqueue(conn, 41)
        proc = procs.work(dsn)
        assert wait_for(lambda: _result(conn, job), timeout=60) == ("succeeded", 42, 1)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert "the pgqueue schema (f00dfeed) is newer than this pgqueue" in out
