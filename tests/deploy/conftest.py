"""Fixtures for the deployment tests: the execution log table and worker process groups."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.deploy.infra import DEPLOY_LOG, WorkerGroup


@pytest.fixture
def deploy_log(conn: psycopg.Connection) -> psycopg.Connection:
    """Creates ``deploy_log`` in the test's database; returns the test connection."""
    conn.execute(DEPLOY_LOG)
    return conn


@pytest.fixture
def worker_group(tmp_path: Path) -> Iterator[WorkerGroup]:
    group = WorkerGroup(tmp_path / "workers")
    yield group
    group.stop(timeout=20)


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A directory for pgbouncer and PostgreSQL clusters that run as the ``postgres`` user.

    Not under pytest's tmp_path: every pytest session that starts (other suites run in
    parallel on a shared machine) resets /tmp/pytest-of-<user> to mode 0700, which would
    lock the service user out of its own files mid-test.
    """
    path = Path(tempfile.mkdtemp(prefix="pgqueue-deploy-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
