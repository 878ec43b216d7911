"""Throughput, failure rate and depth, per queue and overall."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._sql import query
from ..errors import InvalidOption

if TYPE_CHECKING:
    from .._types import AppLike

STATS_WINDOW_MIN = 5


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
        finished = conn.execute(query("admin_throughput"), {"minutes": minutes}).fetchall()
        workers = worker_counts(conn)
    per_queue: dict[str, dict[str, int]] = {}
    for queue, state, n in finished:
        per_queue.setdefault(queue, {})[state] = int(n)
    queues = []
    for name in sorted(set(depth) | set(per_queue)):
        window = _window(per_queue.get(name, {}), minutes)
        queues.append({**depth.get(name, {"queue": name}), **window})
    totals: dict[str, int] = {}
    for counts in per_queue.values():
        for state, n in counts.items():
            totals[state] = totals.get(state, 0) + n
    return {"window_minutes": minutes, **_window(totals, minutes), "queues": queues, "workers": workers}


def worker_counts(conn: Any) -> dict[str, int]:
    """Totals kept in the rows of the workers registered now (admin_worker_counts.sql):
    ``live`` and ``registered`` workers; ``handed_back`` (running jobs handed back at
    shutdown), ``unknown_handed_back`` (jobs of tasks a worker does not register, handed
    back untouched) and ``rescued`` (jobs of dead workers given back: their lease had
    expired), each summed over those workers' lifetimes; ``expired_leases``: running jobs
    whose lease has expired now, which the next rescue gives back."""
    row = conn.execute(query("admin_worker_counts")).fetchone()
    keys = ("live", "registered", "handed_back", "unknown_handed_back", "rescued", "expired_leases")
    return dict(zip(keys, (int(v) for v in row), strict=True))


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
