"""`pgqueue health`: exit 0 only when the database answers, is the primary and the schema is
compatible (at head, or newer: migrations come before workers); exit 1 with the fix otherwise."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from pgqueue import _health, _migrate

ROOT = Path(__file__).resolve().parents[2]


def pgqueue(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthy_database_exits_0_with_json(dsn: str) -> None:
    done = pgqueue("health", "--json", dsn=dsn)
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["ok"] is True
    assert verdict["reachable"] is True and verdict["in_recovery"] is False
    assert verdict["schema"] == "current" and verdict["revision"] == _migrate.head()


def test_unreachable_database_exits_1_and_says_why() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    done = pgqueue("health", dsn=dsn)
    assert done.returncode == 1
    assert "unreachable" in done.stderr and "fix:" in done.stderr


def test_schema_not_installed_is_unhealthy(empty_dsn: str) -> None:
    verdict = _health.check(empty_dsn)
    assert not verdict.ok and verdict.schema == "missing"
    assert "pgqueue migrate" in verdict.fix


def test_schema_behind_is_unhealthy_and_migrate_fixes_it(empty_dsn: str) -> None:
    _migrate.upgrade(empty_dsn, "0001")
    verdict = _health.check(empty_dsn)
    assert not verdict.ok and verdict.schema == "behind" and verdict.revision == "0001"
    _migrate.upgrade(empty_dsn)
    assert _health.check(empty_dsn).ok


def test_schema_from_a_newer_release_stays_healthy(conn: psycopg.Connection, dsn: str) -> None:
    # Rolling upgrade: a newer release migrated first; this release's workers keep running.
    conn.execute("UPDATE pgqueue.alembic_version SET version_num = 'f00dfeed'")
    verdict = _health.check(dsn)
    assert verdict.ok and verdict.schema == "newer" and "newer" in verdict.detail


def test_worker_flag_needs_a_live_registration_from_this_host(conn: psycopg.Connection, dsn: str) -> None:
    host = f"pod-{uuid.uuid4().hex[:8]}"
    missing = _health.check(dsn, worker=True, hostname=host)
    assert not missing.ok and missing.workers_alive == 0
    conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, expires_at) "
        "VALUES (%s, %s, 1, '{default}', 1, 'test', now() + interval '10 seconds')",
        (uuid.uuid4(), host),
    )
    alive = _health.check(dsn, worker=True, hostname=host)
    assert alive.ok and alive.workers_alive == 1
    conn.execute(
        "UPDATE pgqueue.workers SET expires_at = now() - interval '1 second' WHERE hostname = %s", (host,)
    )
    assert not _health.check(dsn, worker=True, hostname=host).ok
    done = pgqueue("health", "--worker", "--hostname", host, dsn=dsn)
    assert done.returncode == 1 and "no live worker" in done.stderr


def test_probe_writes_nothing(conn: psycopg.Connection, dsn: str) -> None:
    before = conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone()
    assert _health.check(dsn, worker=True, hostname="nobody").workers_alive == 0
    assert conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == before
