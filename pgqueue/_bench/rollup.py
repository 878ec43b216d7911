"""The ``history-rollup`` scenario: what the history kept by the database costs at a high
completion rate. Once a minute the maintenance leader calls
:func:`pgqueue.dashboard.history.tick`, which rolls the jobs finished in the last whole
minute up into per-minute and per-hour rows of ``pgqueue.job_history``.

Seeded: one minute's completions at each rate (``rate x 60`` finished jobs over 4 queues
and 25 tasks, 5% dead), analyzed, with a backlog-free table otherwise. Timed: one
``tick()`` covering that minute, exactly as the leader runs it (same code, same
statements), three times from a forgotten history, and checked: the history then counts
every seeded job. The figure that
matters is the share of one core the rollup takes: its duration over the minute it
covers.
"""

from __future__ import annotations

import time

from .. import _db
from ..dashboard import history
from .db import Probe
from .report import Result, median, percentiles

GOAL_SHARE = 0.05
"""At most this share of one core (3 s of rollup per minute of completions)."""
REPEATS = 3


def rollup(probe: Probe, rate: int) -> Result:
    """Seed a minute of ``rate`` completions per second, then time the tick rolling it up."""
    probe.reset()
    start = probe.one("bench_rollup_minute")
    n = rate * 60
    probe.run("bench_seed_rollup", {"n": n, "start": start})
    probe.run("bench_vacuum")
    took: list[float] = []
    counts: list[int] = []
    with _db.connect(probe.dsn) as conn:
        for _ in range(REPEATS):  # the same minute again, from a forgotten history
            probe.run("bench_rollup_reset", {"start": start})
            began = time.perf_counter()
            if not history.tick(conn):
                raise RuntimeError("another process holds the history lock of the bench database")
            took.append((time.perf_counter() - began) * 1000.0)
            counts.append(int(probe.one("bench_rollup_counted", {"start": start})))
    ms = median(took)
    share = ms / 60_000.0
    return Result(
        "history-rollup",
        f"one minute at {rate:,} completions/s ({n:,} jobs, 4 queues x 25 tasks)",
        latency_ms=percentiles(took),
        goal=f"< {GOAL_SHARE:.0%} of one core, every job counted",
        met=all(c == n for c in counts) and share < GOAL_SHARE,
        extra={"core_share": round(share, 4), "counted": min(counts), "seeded": n},
    )
