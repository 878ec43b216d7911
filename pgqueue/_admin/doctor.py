"""``pgqueue doctor``: the health of the queue tables and the database around them.

Each check returns a :class:`Check` with a verdict (``ok``, ``warn``, ``fail``), what
was seen, and the fix. Anything but ``ok`` makes ``pgqueue doctor`` exit 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg import Connection
from psycopg.rows import class_row, dict_row

from .. import _db
from .._sql import query
from ..errors import DatabaseUnavailable

if TYPE_CHECKING:
    from .._types import AppLike

OK, WARN, FAIL = "ok", "warn", "fail"

LONG_TRANSACTION_S = 60.0
XID_AGE_LIMIT = 10_000_000
DEAD_TUPLE_RATIO = 0.2
DEAD_TUPLE_MIN = 10_000
VACUUM_STALE_S = 86400.0
BLOAT_RATIO = 3.0
BLOAT_MIN_BYTES = 64 * 1024 * 1024
NOTIFY_WARN = 0.5
NOTIFY_FAIL = 0.9
LEASE_GRACE_S = 60.0
QUEUE_AGE_S = 300.0
DEAD_GROWTH_FACTOR = 2.0
DEAD_GROWTH_MIN = 10
UNRUNNABLE_AGE_S = 300.0
"""Queued jobs that no live worker can run (none serves their queue with their task
registered) are flagged once they are older than this."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Thresholds of the checks (seconds unless named otherwise)."""

    long_transaction_s: float = LONG_TRANSACTION_S
    queue_age_s: float = QUEUE_AGE_S
    lease_grace_s: float = LEASE_GRACE_S
    unrunnable_age_s: float = UNRUNNABLE_AGE_S


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_doctor(app: AppLike, limits: Limits | None = None) -> list[Check]:
    """Run every check against ``app``'s database; the first check is the schema."""
    limits = limits or Limits()
    try:
        _db.check_reachable(app.dsn)
    except DatabaseUnavailable as exc:
        return [Check("connection", FAIL, str(exc), "start the server or fix the DSN")]
    checks = [_schema(app.dsn)]
    with app.pool.connection() as conn:
        checks += [_xmin(conn, limits), _notify(conn)]
        if checks[0].status != OK:
            return checks  # the other checks read pgqueue's own tables and views
        checks += [
            _vacuum(conn),
            _bloat(conn),
            _leases(conn, limits),
            _workers(conn),
            _unrunnable(conn, limits),
            _bounds(conn),
            *_queues(conn, limits),
            _dead_growth(conn),
        ]
    return checks


def _schema(dsn: str) -> Check:
    from .. import _migrate  # alembic is heavy; only this check needs it

    current, head = _migrate.current(dsn), _migrate.head()
    data = {"current": current, "head": head}
    if current == head:
        return Check("schema", OK, f"at head ({head})", data=data)
    return Check(
        "schema",
        FAIL,
        f"schema is at {current or 'nothing (not installed)'}, this pgqueue needs {head}",
        "run `pgqueue migrate` (safe beside running workers)",
        data,
    )


def _rows(conn: Connection[Any], name: str, params: dict[str, Any] | None = None) -> list[Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query(name), params or {}).fetchall()


def _xmin(conn: Connection[Any], limits: Limits) -> Check:
    rows = _rows(conn, "doctor_xmin")
    bad = [
        r
        for r in rows
        if (r["age_s"] is not None and r["age_s"] > limits.long_transaction_s)
        or (r["xid_age"] is not None and r["xid_age"] > XID_AGE_LIMIT)
    ]
    data = {"oldest": rows}
    if not bad:
        oldest = f"{rows[0]['age_s'] or 0:.1f}s" if rows else "none open"
        return Check("xmin_horizon", OK, f"oldest transaction: {oldest}", data=data)
    worst = bad[0]
    age = f"{worst['age_s']:.0f}s" if worst["age_s"] is not None else "-"
    who = f"{worst['kind']} {worst['who']}"
    return Check(
        "xmin_horizon",
        FAIL,
        f"{who} (user {worst['usr']}, app {worst['app']!r}, {worst['state']}) has held the "
        f"xmin horizon for {age} / {worst['xid_age']} transactions: vacuum cannot remove "
        "finished jobs' dead rows and claims slow down",
        "end it: SELECT pg_terminate_backend(pid) for a session, pg_drop_replication_slot() "
        "for an unused slot, ROLLBACK PREPARED for a forgotten prepared transaction; set "
        "idle_in_transaction_session_timeout to stop it recurring",
        data,
    )


def _vacuum(conn: Connection[Any]) -> Check:
    rows = _rows(conn, "doctor_vacuum")
    if not rows:
        return Check("vacuum", OK, "no statistics for pgqueue.jobs yet")
    r = rows[0]
    live, dead = int(r["n_live_tup"]), int(r["n_dead_tup"])
    ratio = dead / (live + dead) if live + dead else 0.0
    data = {**r, "dead_ratio": round(ratio, 4)}
    when = "never" if r["last_vacuum"] is None else f"{r['last_vacuum_age_s']:.0f}s ago"
    detail = f"{dead} dead / {live} live tuples ({ratio:.0%}), last vacuum {when}"
    if dead >= DEAD_TUPLE_MIN and ratio > DEAD_TUPLE_RATIO:
        return Check(
            "vacuum",
            WARN,
            detail,
            "check xmin_horizon first (a long transaction blocks vacuum), then run "
            "VACUUM (ANALYZE) pgqueue.jobs; keep autovacuum on",
            data,
        )
    return Check("vacuum", OK, detail, data=data)


def _bloat(conn: Connection[Any]) -> Check:
    rows = _rows(conn, "doctor_index_bloat")
    bloated = [
        r
        for r in rows
        if r["ideal_bytes"] and r["bytes"] > BLOAT_MIN_BYTES and r["bytes"] > BLOAT_RATIO * r["ideal_bytes"]
    ]
    data = {"indexes": rows}
    if not bloated:
        total = sum(int(r["bytes"]) for r in rows)
        return Check("index_bloat", OK, f"{len(rows)} indexes, {total // 1024} kB", data=data)
    names = ", ".join(f"{r['index']} ({r['bytes'] // 2**20} MB)" for r in bloated)
    return Check(
        "index_bloat",
        WARN,
        f"indexes over {BLOAT_RATIO:g}x their estimated fresh size: {names}",
        "REINDEX INDEX CONCURRENTLY pgqueue.<name> (no write lock); bloat comes back when "
        "vacuum is blocked, so check xmin_horizon",
        data,
    )


def _notify(conn: Connection[Any]) -> Check:
    row = conn.execute(query("doctor_notify")).fetchone()
    usage = float(row[0]) if row else 0.0
    data = {"usage": usage}
    detail = f"NOTIFY queue {usage:.1%} full"
    if usage < NOTIFY_WARN:
        return Check("notify_queue", OK, detail, data=data)
    return Check(
        "notify_queue",
        FAIL if usage >= NOTIFY_FAIL else WARN,
        detail + " (at 100% every NOTIFY, and so every enqueue, fails)",
        "a session LISTENs but stopped consuming, usually inside a long transaction: find "
        "it in pg_stat_activity (state 'idle in transaction') and end it",
        data,
    )


@dataclass(frozen=True, slots=True)
class LeasesRow:
    """The row of doctor_leases.sql: running jobs whose lease expired past the grace."""

    jobs: int
    oldest_expiry: datetime | None
    worst_s: float | None
    """Seconds since the oldest of those leases expired."""


def _leases(conn: Connection[Any], limits: Limits) -> Check:
    cur = conn.cursor(row_factory=class_row(LeasesRow))
    row = cur.execute(query("doctor_leases"), {"grace_s": limits.lease_grace_s}).fetchone()
    if row is None or not row.jobs:
        return Check("stuck_leases", OK, "no expired leases", data={"count": 0})
    return Check(
        "stuck_leases",
        FAIL,
        f"{row.jobs} running jobs hold leases expired for up to {row.worst_s:.0f}s",
        "start a worker: every worker's rescuer hands expired leases back to their queue",
        {"count": row.jobs, "oldest_expiry": row.oldest_expiry},
    )


def _workers(conn: Connection[Any]) -> Check:
    r = _rows(conn, "doctor_workers")[0]
    data = {k: r[k] for k in ("alive", "stopping", "stale")}
    detail = f"{r['alive']} alive, {r['stopping']} stopping, {r['stale']} stale"
    if not r["stale"]:
        return Check("workers", OK, detail, data=data)
    return Check(
        "workers",
        WARN,
        f"{detail}: {', '.join(r['stale_names'][:5])} stopped heartbeating",
        "check those hosts (killed? frozen? cut off from the database?); live workers "
        "rescue their jobs and forget the rows after a while",
        {**data, "stale_names": r["stale_names"]},
    )


BOUNDS_SLACK_S = 3600.0
"""Rows a duty should have removed are flagged once they are this much past its retention
plus its interval (a duty that merely ran late is not a finding)."""


def _bounds(conn: Connection[Any]) -> Check:
    from .._maintenance.config import RETENTION_INTERVAL_S, TICK_PRUNE_INTERVAL_S, TICK_RETENTION_S
    from .._maintenance.rescuer import FORGET_WORKER_S
    from .._settings import Retention

    ages = Retention()
    keep = {state: age.total_seconds() for state, age in ages.ages().items()}
    never = float(10**10)  # a state kept forever has no bound to check
    params = {
        "ticks_s": TICK_RETENTION_S + TICK_PRUNE_INTERVAL_S + BOUNDS_SLACK_S,
        "workers_s": FORGET_WORKER_S + BOUNDS_SLACK_S,
        **{
            f"{state}_s": keep.get(state, never) + RETENTION_INTERVAL_S + BOUNDS_SLACK_S
            for state in ("succeeded", "cancelled", "dead")
        },
    }
    r = _rows(conn, "doctor_bounds", params)[0]
    duty = {
        "ticks": ("schedule_ticks", "tick pruning (maintenance, cron)"),
        "workers": ("workers", "the rescuer (forgets long-dead workers)"),
        "succeeded": ("jobs", "retention of succeeded jobs"),
        "cancelled": ("jobs", "retention of cancelled jobs"),
        "dead": ("jobs", "retention of dead jobs"),
    }
    behind = {k: int(v) for k, v in r.items() if v}
    if not behind:
        return Check("table_bounds", OK, "no table holds rows its maintenance should have removed")
    named = ", ".join(
        f"{duty[k][0]}: {'over 10000' if n > 10000 else n} rows ({duty[k][1]})" for k, n in behind.items()
    )
    return Check(
        "table_bounds",
        WARN,
        f"tables growing without bound: {named}",
        "run at least one `pgqueue work` process with maintenance on (its rescue, retention "
        "and cron duties are elected, one process at a time), or `pgqueue prune` on a schedule",
        behind,
    )


def _unrunnable(conn: Connection[Any], limits: Limits) -> Check:
    rows = _rows(conn, "doctor_unrunnable", {"age_s": limits.unrunnable_age_s})
    if not rows:
        return Check("unrunnable", OK, "every queued job has a live worker that can run it")
    total = sum(r["jobs"] for r in rows)
    named = ", ".join(f"{r['task']} on {r['queue']} ({r['jobs']})" for r in rows[:5])
    return Check(
        "unrunnable",
        WARN,
        f"{total} queued job(s) older than {limits.unrunnable_age_s:g}s that no live worker "
        f"can run: {named}",
        "start workers whose app registers these tasks and serves these queues "
        "(`pgqueue tasks ls` shows what live workers run); they wait, attempts untouched",
        {"jobs": total, "groups": [dict(r) for r in rows]},
    )


def _queues(conn: Connection[Any], limits: Limits) -> list[Check]:
    out = []
    for r in _rows(conn, "doctor_queues"):
        name, age = r["queue"], r["oldest_queued_age_s"] or 0.0
        data = dict(r)
        if r["paused"]:
            out.append(
                Check(
                    f"queue:{name}",
                    WARN,
                    f"paused with {r['queued']} jobs due (oldest waiting {age:.0f}s)",
                    f"pgqueue queues resume {name}",
                    data,
                )
            )
        elif age > limits.queue_age_s:
            cause = "no live worker serves it" if not r["served"] else "workers are behind"
            out.append(
                Check(
                    f"queue:{name}",
                    WARN,
                    f"oldest due job has waited {age:.0f}s ({r['queued']} due): {cause}",
                    f"start workers for it: pgqueue work -q {name}"
                    if not r["served"]
                    else "add workers or concurrency, or check the queue's limits",
                    data,
                )
            )
    if not out:
        out.append(Check("queues", OK, "no paused backlog, no queue waiting too long"))
    return out


@dataclass(frozen=True, slots=True)
class DeadGrowthRow:
    """The row of doctor_dead_growth.sql: jobs gone dead lately."""

    last_hour: int
    hourly_before: Decimal
    """Per hour over the 24 hours before that."""


def _dead_growth(conn: Connection[Any]) -> Check:
    row = conn.cursor(row_factory=class_row(DeadGrowthRow)).execute(query("doctor_dead_growth")).fetchone()
    last_hour = row.last_hour if row else 0
    before = float(row.hourly_before) if row else 0.0
    data = {"last_hour": last_hour, "hourly_before": round(before, 2)}
    detail = f"{last_hour} jobs went dead in the last hour (previous 24 h: {before:.1f}/h)"
    if last_hour >= DEAD_GROWTH_MIN and last_hour > DEAD_GROWTH_FACTOR * before:
        return Check(
            "dead_letter",
            WARN,
            detail,
            "look at them: pgqueue jobs ls --state dead; fix the cause, then pgqueue jobs retry --state dead",
            data,
        )
    return Check("dead_letter", OK, detail, data=data)
