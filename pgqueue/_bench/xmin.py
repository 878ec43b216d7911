"""``held-xmin``: steady load while a REPEATABLE READ transaction pins the xmin horizon.

A feeder keeps a backlog queued, one worker process drains it; the curve is jobs finished
per second. Phases: baseline, the held transaction, then after its end until the rate is
back (a 3-second average >= 90% of the baseline median) or the recovery window ends.
While the horizon is pinned, no row version newer than it can be removed, so every claim
and completion leaves dead versions (and dead index entries) behind.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import psycopg

from .. import _db
from .db import Probe
from .report import Result
from .sql import query
from .tasks import QUEUE
from .workers import Workers

LOW_WATER = 20_000
TOP_UP = 20_000
FEED_S = 0.25
RECOVERED = 0.9


class Feeder:
    """Keeps at least LOW_WATER jobs queued (one INSERT ... SELECT of TOP_UP at a time)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-feeder", daemon=True)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with _db.connect(self._dsn, application_name="pgqueue-bench-feeder") as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    query("bench_queued"), {"queue": QUEUE, "window": LOW_WATER}
                ).fetchone()
                if row is not None and row[0] < LOW_WATER:
                    conn.execute(
                        query("bench_seed"),
                        {"n": TOP_UP, "queue": QUEUE, "task": "bench.noop", "max_attempts": 5},
                    )
                self._stop.wait(FEED_S)


def held_xmin(
    probe: Probe, concurrency: int | None, baseline_s: float, hold_s: float, recovery_s: float
) -> Result:
    probe.reset()
    probe.run(
        "bench_seed", {"n": LOW_WATER + TOP_UP, "queue": QUEUE, "task": "bench.noop", "max_attempts": 5}
    )
    probe.run("bench_vacuum")
    with Workers(probe.dsn, concurrency=concurrency) as w, Feeder(probe.dsn):
        w.wait_ready(lambda: probe.one("bench_workers"))
        since = probe.one("bench_now")
        t0 = time.monotonic()
        time.sleep(baseline_s)
        held_at = time.monotonic() - t0
        with _db.connect(probe.dsn, autocommit=False, application_name="pgqueue-bench-xmin") as holder:
            holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            holder.execute(query("bench_hold_xmin"))
            time.sleep(hold_s)
            holder.rollback()
        released_at = time.monotonic() - t0
        base = 0.0
        recovered_after: float | None = None
        end = released_at + recovery_s
        # Polled incrementally (the last seconds only): a poll that reads every job
        # finished since the start grows with the run and slows the worker it measures.
        counts: dict[int, int] = {}
        while time.monotonic() - t0 < end:
            time.sleep(1.0)
            _poll(probe, since, counts)
            curve = _as_curve(counts)
            base = _baseline(curve, held_at)
            recovered_after = _recovered(curve, released_at, base)
            if recovered_after is not None and time.monotonic() - t0 > released_at + recovered_after + 3:
                break
    curve = _curve(probe, since)
    base = _baseline(curve, held_at)
    held = [c for s, c in enumerate(curve) if held_at + 1 <= s < released_at - 1]
    low = min(held) if held else 0
    recovered_after = _recovered(curve, released_at, base)
    ratio = low / base if base else 0.0
    met = ratio >= 0.25 and recovered_after is not None and recovered_after <= 60.0
    return Result(
        "held-xmin",
        f"RR transaction held {hold_s:g}s under load, 1 proc",
        base,
        [base],
        goal=">= 0.25x baseline, recovered <= 60s",
        met=met,
        extra={
            "baseline_rate": round(base, 1),
            "min_while_held": low,
            "min_ratio": round(ratio, 3),
            "recovered_after_s": recovered_after,
            "held_from_s": round(held_at, 1),
            "released_at_s": round(released_at, 1),
            "curve_per_s": curve,
        },
    )


def _poll(probe: Probe, since: Any, counts: dict[int, int]) -> None:
    """Update ``counts`` (second -> jobs finished) from the last counted second on."""
    start = max(0, max(counts, default=0) - 1)
    for s, c in probe.all("bench_buckets", {"queue": QUEUE, "since": since, "from_s": start}):
        counts[int(s)] = int(c)


def _curve(probe: Probe, since: Any) -> list[int]:
    counts: dict[int, int] = {}
    _poll(probe, since, counts)
    return _as_curve(counts)


def _as_curve(counts: dict[int, int]) -> list[int]:
    if not counts:
        return []
    out = [0] * (max(counts) + 1)
    for s, c in counts.items():
        out[s] = c
    return out[:-1]  # the last second is incomplete


def _baseline(curve: list[int], held_at: float) -> float:
    window = curve[2 : max(3, int(held_at))]
    return float(statistics.median(window)) if window else 0.0


def _recovered(curve: list[int], released_at: float, base: float) -> float | None:
    start = int(released_at) + 1
    for s in range(start, len(curve) - 2):
        if sum(curve[s : s + 3]) / 3 >= RECOVERED * base:
            return float(s - released_at)
    return None
