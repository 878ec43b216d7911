"""Fixtures of the chaos suite.

Scenarios that touch only their own database use the shared server through ``dsn``.
Scenarios that act on a whole server (stopping it, switching it read-only, taking its
connections, holding its xmin horizon) get a PostgreSQL cluster of their own on a free port
(``tests.deploy.infra.Cluster``, Debian's PostgreSQL 15 binaries), never the shared one.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from pgqueue import _migrate
from tests.chaos.support import Workers, create_tables
from tests.deploy.infra import Cluster


@pytest.fixture
def chaos_dsn(dsn: str) -> str:
    """The test's database (shared server) with the execution log tables."""
    create_tables(dsn)
    return dsn


def _scratch(prefix: str) -> Path:
    # Not pytest's tmp_path: parallel pytest sessions on this machine prune each other's
    # numbered temp dirs, and a running cluster or worker log must not vanish mid-test.
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture
def workers() -> Iterator[Workers]:
    base = _scratch("pgqueue-chaos-workers-")
    w = Workers(base)
    yield w
    w.cleanup()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def own_cluster() -> Iterator[Cluster]:
    """A throw-away cluster for the server-wide faults (stopped, read-only, starved)."""
    base = _scratch("pgqueue-chaos-cluster-")
    cluster = Cluster(base / "data")
    try:
        cluster.initdb()
        cluster.configure(max_connections="120", log_min_messages="warning")
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except Exception as exc:  # teardown goes on
            print(f"stopping the chaos cluster: {exc}")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cluster_dsn(own_cluster: Cluster) -> Iterator[str]:
    """A fresh migrated database with the execution log tables on the chaos cluster, which
    is running and writable when the test starts."""
    name = f"chaos_{uuid.uuid4().hex[:10]}"
    if not (own_cluster.datadir / "postmaster.pid").exists():
        own_cluster.start()
    with own_cluster.connect() as c:
        c.execute("ALTER SYSTEM RESET default_transaction_read_only")
        c.execute("SELECT pg_reload_conf()")
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = own_cluster.dsn(name)
    _migrate.upgrade(url)
    create_tables(url)
    yield url
    if not (own_cluster.datadir / "postmaster.pid").exists():
        own_cluster.start()
    with own_cluster.connect() as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

