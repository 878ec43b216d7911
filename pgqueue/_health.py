"""``pgqueue health``: can this process do its work right now? For liveness/readiness probes.

Healthy means: the database answers within the timeout, it is a writable primary (not a
standby in recovery), and the pgqueue schema is at a revision this pgqueue can run
against. With ``worker=True`` a live worker process registered from this host is also
required (its heartbeat keeps its registration from expiring).

Schema compatibility follows the upgrade procedure in ``deploy/README.md``: migrations
only add things the previous release ignores, so ``pgqueue migrate`` runs first and
workers are rolled afterwards. Hence a revision *newer* than this pgqueue knows (a newer
release migrated the database) is compatible, and one *older* than this pgqueue's head
(or none at all) is not: the fix is ``pgqueue migrate``.
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import class_row

from . import _db, _revision
from ._revision import CURRENT, NEWER, UNKNOWN, schema_status
from ._sql import query

STATEMENT_TIMEOUT_S: Final = 5.0
"""Each probe statement gives up after this long (a lock held by a migration, a stuck server)."""
APPLICATION_NAME: Final = "pgqueue-health"

_COMPATIBLE = frozenset({CURRENT, NEWER})


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict of one probe; ``ok`` is what the exit code reports."""

    ok: bool
    detail: str
    reachable: bool = False
    latency_ms: float | None = None
    server_version: str | None = None
    in_recovery: bool | None = None
    schema: str = UNKNOWN
    revision: str | None = None
    head: str = ""
    workers_alive: int | None = None
    hostname: str | None = None
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(
    dsn: str,
    *,
    worker: bool = False,
    hostname: str | None = None,
    statement_timeout: float = STATEMENT_TIMEOUT_S,
) -> Health:
    """Probe ``dsn`` once and return the verdict; never raises for an unhealthy database.

    The probe runs in one transaction that is rolled back (nothing is written) and uses
    no prepared statements, so it works through a transaction pooler. ``hostname``
    defaults to this machine's (a Kubernetes pod's name) and only matters with ``worker``.
    """
    head = _revision.head()
    host = (hostname or socket.gethostname()) if worker else None
    started = time.monotonic()
    try:
        with _db.connect(dsn, autocommit=False, application_name=APPLICATION_NAME) as conn:
            try:
                return _probe(conn, head, host, statement_timeout, started)
            finally:
                conn.rollback()
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Health(
            ok=False,
            detail=f"database unreachable: {message}",
            head=head,
            hostname=host,
            fix="check the DSN, the network path and that PostgreSQL is up",
        )


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """The row of health_probe.sql."""

    statement_timeout: str
    """What set_config returned (the timeout just set); read by nobody."""
    in_recovery: bool
    server_version: str
    installed: bool
    """Whether pgqueue's migration table exists."""


def _probe(
    conn: psycopg.Connection[Any], head: str, host: str | None, timeout: float, started: float
) -> Health:
    cur = conn.cursor(row_factory=class_row(ProbeRow))
    row = cur.execute(query("health_probe"), {"timeout_ms": str(int(timeout * 1000))}).fetchone()
    assert row is not None
    latency = round((time.monotonic() - started) * 1000, 2)
    base: dict[str, Any] = {
        "reachable": True,
        "latency_ms": latency,
        "server_version": row.server_version,
        "in_recovery": row.in_recovery,
        "head": head,
        "hostname": host,
    }
    revision = None
    if row.installed:
        revision = _revision.read(conn)
    status = schema_status(revision, head)
    base.update(schema=status, revision=revision)
    if row.in_recovery:
        return Health(
            ok=False,
            detail="connected to a standby in recovery (read-only): workers need the primary",
            fix="point the DSN at the primary, or list all hosts with target_session_attrs=read-write",
            **base,
        )
    if status not in _COMPATIBLE:
        seen = revision or "nothing (pgqueue not installed)"
        return Health(
            ok=False,
            detail=f"schema is at {seen}, this pgqueue needs {head}",
            fix="run `pgqueue migrate` (safe beside running workers)",
            **base,
        )
    if host is not None:
        counted = conn.execute(query("health_worker"), {"hostname": host}).fetchone()
        alive = int(counted[0]) if counted else 0
        base["workers_alive"] = alive
        if alive == 0:
            return Health(
                ok=False,
                detail=f"no live worker process registered from host {host!r}",
                fix="see the worker's log: it is not running, not heartbeating, or uses another DSN",
                **base,
            )
    note = "" if status == CURRENT else f" (schema {revision} is newer than this pgqueue's {head})"
    return Health(ok=True, detail=f"ok in {latency} ms{note}", **base)
