"""The bench's database: a scratch database per run, and the counters read around each
scenario (commits, WAL bytes, statements)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .. import _db, _migrate
from .sql import query

BACKENDS_GONE_S = 10.0
"""How long to wait for a scenario's connections to end before reading its counters."""


def database_dsn(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` instead."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


class Scratch:
    """A fresh, migrated database on the server of ``server_dsn``, dropped on exit."""

    def __init__(self, server_dsn: str) -> None:
        self.server_dsn = server_dsn
        self.name = f"pgqueue_bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        with _db.connect(self.server_dsn) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        dsn = database_dsn(self.server_dsn, self.name)
        _migrate.upgrade(dsn)
        return dsn

    def __exit__(self, *exc: object) -> None:
        with _db.connect(self.server_dsn) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


@dataclass(frozen=True, slots=True)
class Snapshot:
    commits: int
    lsn: str
    statements: int | None


@dataclass(frozen=True, slots=True)
class Counters:
    """Per-job figures that do not depend on the hardware."""

    commits_per_job: float
    wal_bytes_per_job: float
    statements_per_job: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "commits_per_job": round(self.commits_per_job, 3),
            "wal_bytes_per_job": round(self.wal_bytes_per_job, 1),
            "statements_per_job": None
            if self.statements_per_job is None
            else round(self.statements_per_job, 3),
        }


class Probe:
    """The bench's own connection to the scenario database (autocommit)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = _db.connect(dsn, application_name="pgqueue-bench")
        self.db = str(self.one("bench_current_db"))
        self.statements = _enable_statements(self.conn)

    def close(self) -> None:
        self.conn.close()

    def reopen(self) -> None:
        self.conn = _db.connect(self.dsn, application_name="pgqueue-bench")

    def one(self, name: str, params: dict[str, Any] | None = None) -> Any:
        row = self.conn.execute(query(name), params or {}).fetchone()
        assert row is not None
        return row[0]

    def all(self, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(query(name), params or {}).fetchall()

    def run(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.conn.execute(query(name), params or {})

    def reset(self) -> None:
        self.run("bench_reset")
        self.run("bench_vacuum")

    def wait_backends_gone(self, timeout: float = BACKENDS_GONE_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.one("bench_other_backends") > 0:
            time.sleep(0.05)

    def snapshot(self) -> Snapshot:
        self.run("bench_clear_snapshot")
        row = self.conn.execute(query("bench_counters")).fetchone()
        assert row is not None
        stmts = self.one("bench_statements") if self.statements else None
        return Snapshot(int(row[0]), str(row[1]), None if stmts is None else int(stmts))

    def counters(self, before: Snapshot, jobs: int) -> Counters:
        """Counters since ``before``, per job; waits for the scenario's backends to exit
        first (each flushes its statistics when it ends)."""
        self.wait_backends_gone()
        after = self.snapshot()
        wal = float(self.one("bench_wal_diff", {"before": before.lsn, "after": after.lsn}))
        stmts = None
        if before.statements is not None and after.statements is not None:
            stmts = (after.statements - before.statements) / jobs
        return Counters((after.commits - before.commits) / jobs, wal / jobs, stmts)


def _enable_statements(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute(query("bench_statements_enable"))
        conn.execute(query("bench_statements"))
    except psycopg.Error:
        return False
    return True
