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
    "failure_rate", "queues": [...]}`` where ``failure_rate`` is dead / (succeeded +
    dead) in the window (None when nothing finished) and each queue row adds the same
    window figures to its ``pgqueue.queue_stats`` columns.
    Raises InvalidOption when ``minutes`` is below 1.
    """
    if minutes < 1:
        raise InvalidOption(f"minutes must be >= 1, got {minutes}")
    from .queues import Queues

    depth = {row["queue"]: row for row in Queues(app).list()}
    with app.pool.connection() as conn:
        finished = conn.execute(query("admin_throughput"), {"minutes": minutes}).fetchall()
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
    return {"window_minutes": minutes, **_window(totals, minutes), "queues": queues}


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
