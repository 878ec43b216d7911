"""Throughput, failure rate and depth, per queue and overall."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg.rows import class_row

from .._sql import query
from ..errors import InvalidOption

if TYPE_CHECKING:
    from .._types import AppLike

STATS_WINDOW_MIN = 5


@dataclass(frozen=True, slots=True)
class ThroughputRow:
    """A row of admin_throughput.sql: jobs of a queue that ended in a state in the window."""

    queue: str
    state: str
    n: int


def stats(app: AppLike, minutes: int = STATS_WINDOW_MIN) -> dict[str, Any]:
    """Activity over the last ``minutes`` (default 5) and the depth of every queue.

    Returns ``{"window_minutes", "succeeded_window", "dead_window", "cancelled_window",
    "throughput_per_s",
    "failure_rate", "queues": [...], "workers": {...}}`` where ``failure_rate`` is dead /
    (succeeded + dead) in the window (None when nothing finished), each queue row adds the
    same window figures to its ``pgqueue.queue_stats`` columns, and ``workers`` sums what
    the workers' rows record (see :func:`worker_counts`).
    Raises InvalidOption when ``minutes`` is below 1.
    """
    if minutes < 1:
        raise InvalidOption(f"minutes must be >= 1, got {minutes}")
    from .queues import Queues

    depth = {row["queue"]: row for row in Queues(app).list()}
    with app.pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(ThroughputRow))
        finished = cur.execute(query("admin_throughput"), {"minutes": minutes}).fetchall()
        workers = worker_counts(conn)
    per_queue: dict[str, dict[str, int]] = {}
    for row in finished:
        per_queue.setdefault(row.queue, {})[row.state] = row.n
    queues = []
    for name in sorted(set(depth) | set(per_queue)):
        window = _window(per_queue.get(name, {}), minutes)
        queues.append({**depth.get(name, {"queue": name}), **window})
    totals: dict[str, int] = {}
    for counts in per_queue.values():
        for state, n in counts.items():
            totals[state] = totals.get(state, 0) + n
    return {"window_minutes": minutes, **_window(totals, minutes), "queues": queues, "workers": workers}


@dataclass(frozen=True, slots=True)
class WorkerCountsRow:
    """The row of admin_worker_counts.sql (a sum of bigints is numeric, hence Decimal)."""

    live: int
    registered: int
    handed_back: Decimal
    unknown_handed_back: Decimal
    rescued: Decimal
    expired_leases: int


def worker_counts(conn: Any) -> dict[str, int]:
    """Totals kept in the rows of the workers registered now (admin_worker_counts.sql):
    ``live`` and ``registered`` workers; ``handed_back`` (running jobs handed back at
    shutdown), ``unknown_handed_back`` (jobs of tasks a worker does not register, handed
    back untouched) and ``rescued`` (jobs of dead workers given back: their lease had
    expired), each summed over those workers' lifetimes; ``expired_leases``: running jobs
    whose lease has expired now, which the next rescue gives back."""
    row = conn.cursor(row_factory=class_row(WorkerCountsRow)).execute(query("admin_worker_counts")).fetchone()
    return {k: int(v) for k, v in asdict(row).items()}


def _window(counts: dict[str, int], minutes: int) -> dict[str, Any]:
    succeeded = counts.get("succeeded", 0)
    dead = counts.get("dead", 0)
    cancelled = counts.get("cancelled", 0)
    finished = succeeded + dead
    return {
        "succeeded_window": succeeded,
        "dead_window": dead,
        "cancelled_window": cancelled,
        "throughput_per_s": round((succeeded + dead + cancelled) / (minutes * 60.0), 3),
        "failure_rate": round(dead / finished, 4) if finished else None,
    }
