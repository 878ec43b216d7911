"""Fixtures for the deployment tests: the execution log table and worker process groups."""

from __future__ import annotations

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
