"""History kept by the database (migration 0008): finished jobs per minute and hour, with
run-time and wait-time histograms, and queue depth per minute.

:func:`tick` is the one writer. It rolls the jobs finished since the watermark up into
``pgqueue.job_history`` (minute rows, and the hour rows recomputed from them), stores one
depth sample per queue, and prunes what fell out of :data:`MINUTES_KEEP_S` /
:data:`HOURS_KEEP_S`, all in one transaction under one advisory lock, so any number of
callers (the maintenance service of every worker, every dashboard, every process
serving ``/metrics``) roll each finished job up exactly once. A job finished more than
:data:`GRACE_S` before the tick that covers its minute is counted; one committed later
than that (a completion stuck for longer) is not.

Reads are here too: they turn the histograms back into percentiles. This module does
not import Starlette: the metrics exporter uses it.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.rows import dict_row

from .._maintenance.election import leader
from .._sql import query

if TYPE_CHECKING:
    from .._types import AppLike as App  # what history reads of an App (its pool)

log = logging.getLogger("pgqueue.dashboard")

BOUNDS_S: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0,
)
"""Upper bounds of the histogram slots, in seconds (slot 0 is below the first bound, the
last slot at or above the last). dashboard_history_rollup.sql counts exactly one slot
more than there are bounds."""
SLOTS: Final = len(BOUNDS_S) + 1
GRACE_S: Final = 10
"""A minute is rolled up once it ended this many seconds ago (completions commit a
little after the finished_at they write)."""
BACKFILL_S: Final = 24 * 3600
"""The first tick on a database rolls up the jobs finished within this many seconds."""
MAX_RANGE_S: Final = 3600
"""At most this much time is rolled up per tick, so one tick stays short while catching up."""
MINUTES_KEEP_S: Final = 26 * 3600
"""Minute rows and depth samples are kept this long (the 24 h charts, plus margin)."""
MAX_STEPS: Final = 30
"""At most this many ranges per :func:`tick` (a day's backfill takes one tick)."""
HOURS_KEEP_S: Final = 15 * 24 * 3600
"""Hour rows are kept this long (the 14-day charts, plus margin)."""
TICK_S: Final = 10.0
"""How often the dashboard's background thread calls :func:`tick`."""


def tick(conn: psycopg.Connection[Any], depth: Iterable[Mapping[str, Any]] = ()) -> bool:
    """Roll up, record ``depth`` (rows with queue, queued, scheduled, running, waiting,
    dead) and prune, on ``conn`` (an autocommit connection that is not in a transaction).

    Catching up runs in steps of at most :data:`MAX_RANGE_S`, each its own transaction
    that moves the watermark, at most :data:`MAX_STEPS` per call. Returns False when
    another process holds the history lock right now (it does the same work). Raises
    psycopg errors as they come."""
    for _ in range(MAX_STEPS):
        with leader(conn, "history") as elected:
            if not elected:
                return False
            if not _roll_step(conn):
                break
    with leader(conn, "history") as elected:
        if not elected:
            return False
        samples = [
            {k: (r[k] if k == "queue" else int(r[k] or 0))
             for k in ("queue", "queued", "scheduled", "running", "waiting", "dead")}
            for r in depth
        ]
        if samples:
            with conn.cursor() as cur:
                cur.executemany(query("dashboard_history_depth"), samples)
        conn.execute(
            query("dashboard_history_prune"), {"minutes_s": MINUTES_KEEP_S, "hours_s": HOURS_KEEP_S}
        )
    return True


def record(conn: psycopg.Connection[Any]) -> bool:
    """Read the queue depth (metrics_queues.sql) and :func:`tick` with it, on ``conn``
    (autocommit, not in a transaction): what the maintenance leader, the dashboard's
    recorder and the metrics exporter each call. False when another process held the
    history lock."""
    with conn.cursor(row_factory=dict_row) as cur:
        depth = cur.execute(query("metrics_queues")).fetchall()
    return tick(conn, depth)


def _roll_step(conn: psycopg.Connection[Any]) -> bool:
    """Roll up the next range after the watermark; False when there was nothing to do."""
    row = conn.execute(
        query("dashboard_history_range"),
        {"backfill_s": BACKFILL_S, "grace_s": GRACE_S, "max_s": MAX_RANGE_S},
    ).fetchone()
    assert row is not None
    start, stop = row
    if stop <= start:
        return False
    conn.execute(query("dashboard_history_rollup"), {"start": start, "end": stop, "bounds": list(BOUNDS_S)})
    conn.execute(query("dashboard_history_hours"), {"since": start})
    conn.execute(query("dashboard_history_mark"), {"until": stop})
    return True


def percentile(hist: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram over :data:`BOUNDS_S`, interpolated
    linearly inside its slot (the first slot from 0, the last reads as its lower
    bound); None for an empty histogram."""
    total = sum(hist)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            lo = 0.0 if i == 0 else BOUNDS_S[i - 1]
            if i >= len(BOUNDS_S):
                return lo
            hi = BOUNDS_S[i]
            return lo + (hi - lo) * max(0.0, rank - seen) / n
        seen += n
    return BOUNDS_S[-1]


def slot_of(seconds: float) -> int:
    """The histogram slot ``seconds`` falls in (as width_bucket counts)."""
    return bisect.bisect_right(BOUNDS_S, seconds)


def _width(window_s: int) -> int:
    return 60 if window_s <= 26 * 3600 else 3600


def throughput(app: App, window_s: int, queue: str | None = None, task: str | None = None,
               ) -> dict[str, Any]:
    """Finished jobs per bucket over the last ``window_s`` (minutes up to a day, hours
    beyond), with the failure rate and the p50/p95/p99 of run and wait time per bucket.
    ``{"width_s", "points": [{"t", "succeeded", "dead", "cancelled", "failed_attempts",
    "failure_rate", "run_p50", ...}]}``, oldest first, empty buckets filled with zeros."""
    width = _width(window_s)
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        now = cur.execute(query("dashboard_now")).fetchone()
        assert now is not None
        end = float(next(iter(now.values())))
        since = datetime.fromtimestamp(end - window_s, UTC)
        params = {"width_s": width, "since": since, "queue": queue, "task": task}
        totals = cur.execute(query("dashboard_history_totals"), params).fetchall()
        hists: dict[int, tuple[list[int], list[int]]] = {}
        if queue is None:  # the histograms are per task; a queue filter would need another shape
            for r in cur.execute(query("dashboard_history_hist"), params).fetchall():
                run, wait = hists.setdefault(int(r["t"]), ([0] * SLOTS, [0] * SLOTS))
                run[int(r["slot"]) - 1] += int(r["run_n"])
                wait[int(r["slot"]) - 1] += int(r["wait_n"])
        mark = cur.execute(query("dashboard_history_watermark")).fetchone()
    rolled = float(next(iter(mark.values()))) if mark else 0.0
    by_t = {int(r["t"]): r for r in totals}
    first = int((end - window_s) // width * width) + width
    points = []
    # Up to the last bucket the rollup covered: later ones are not counted yet, not empty.
    for t in range(first, int(min(end, rolled) // width * width) - width + 1, width):
        r = by_t.get(t)
        done = {k: int(r[k]) if r else 0 for k in ("succeeded", "dead", "cancelled", "failed_attempts")}
        finished = done["succeeded"] + done["dead"] + done["cancelled"]
        attempts = done["succeeded"] + done["failed_attempts"]
        rate = round(done["failed_attempts"] / attempts, 4) if attempts else 0.0
        point: dict[str, Any] = {"t": t, **done, "failure_rate": rate, "finished": finished}
        run, wait = hists.get(t, ([0] * SLOTS, [0] * SLOTS))
        for name, hist in (("run", run), ("wait", wait)):
            for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                point[f"{name}_{label}"] = percentile(hist, q)
        points.append(point)
    return {"width_s": width, "window_s": window_s, "time": end, "points": points}


def depth(app: App, window_s: int = 3600, queue: str | None = None) -> list[dict[str, Any]]:
    """Depth samples per minute over the last ``window_s``, summed over queues (or one)."""
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(
            query("dashboard_history_depth_series"), {"window_s": window_s, "queue": queue}
        ).fetchall()
    return rows


def tasks(app: App, window_s: int = 24 * 3600, limit: int = 200) -> list[dict[str, Any]]:
    """Per task over the last ``window_s``: counts, failure rate, mean and p50/p95/p99 of
    run and wait time, busiest first."""
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        params = {"window_s": window_s, "limit": limit}
        rows = cur.execute(query("dashboard_history_tasks"), params).fetchall()
    out = []
    for r in rows:
        finished = int(r["succeeded"]) + int(r["dead"]) + int(r["cancelled"])
        attempts = int(r["succeeded"]) + int(r["failed_attempts"])
        run, wait = list(r["run_hist"] or []), list(r["wait_hist"] or [])
        started = sum(run)
        item = {
            "task": r["task"], "succeeded": int(r["succeeded"]), "dead": int(r["dead"]),
            "cancelled": int(r["cancelled"]), "failed_attempts": int(r["failed_attempts"]),
            "finished": finished,
            "failure_rate": round(int(r["failed_attempts"]) / attempts, 4) if attempts else 0.0,
            "run_mean": float(r["run_s_sum"]) / started if started else None,
            "wait_mean": float(r["wait_s_sum"]) / sum(wait) if sum(wait) else None,
        }
        for name, hist in (("run", run), ("wait", wait)):
            for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                item[f"{name}_{label}"] = percentile(hist, q)
        out.append(item)
    return out


def task_failures(app: App, task: str, window_s: int = 24 * 3600) -> list[dict[str, Any]]:
    """``task``'s dead jobs of the last ``window_s`` grouped by error type."""
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(
            query("dashboard_task_failures"), {"task": task, "window_s": window_s}
        ).fetchall()
    return rows


class Recorder:
    """Calls :func:`tick` every ``interval`` seconds from a daemon thread, with the queue
    depth read just before (metrics_queues.sql); errors are logged and the next tick
    tries again. ``interval`` 0: never (``run_once`` still works)."""

    def __init__(self, app: App, interval: float = TICK_S) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def start(self) -> None:
        if self._thread is None and self.interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pgqueue-history", daemon=True)
            self._thread.start()

    def run_once(self) -> bool:
        """One tick now; False when another process held the history lock."""
        with self.app.pool.connection() as conn:
            done = record(conn)
        self.ticks += 1
        return done

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception as exc:  # the database may be away for a while; keep trying
                log.warning("could not record dashboard history: %s", exc)
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
