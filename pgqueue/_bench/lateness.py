"""``scheduled-lateness``: jobs enqueued with a delay, task start minus their ``run_at``.

One worker process with the defaults (LISTEN, 5 s safety-net poll) serves steady streams
of delayed jobs through ``task.configure(delay=...).enqueue()`` on pgqueue's own pool
(so the wake-ups of dense streams are coalesced, pgqueue._wake). Each stream enqueues for
``seconds`` at its rate, then waits until its last job has run. Lateness is the task's
start (``time.time()`` in the task) minus the job's ``run_at`` as the database wrote it:
the bench, the worker and Postgres share one host, hence one clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pgqueue

from .db import Probe
from .latency import SETTLE_S
from .report import Result, percentiles
from .tasks import register
from .workers import Workers

DELAYS_S = (0.01, 0.1, 1.0, 10.0, 60.0)
"""Delays swept at :data:`DELAY_RATE`."""
DELAY_RATE = 20.0
RATES = (1.0, 200.0, 1000.0)
"""Rates swept at :data:`RATE_DELAY_S` (20/s is in the delay sweep)."""
RATE_DELAY_S = 1.0
LONG_RATE = 1.0
"""Jobs per second of a long-delay stream (``pgqueue bench --long-delay``)."""
RESULTS_TIMEOUT_S = 60.0
GOAL = "p50 <= 10, p99 <= 50 ms"


@dataclass(frozen=True)
class Stream:
    delay: float
    rate: float
    seconds: float

    def label(self) -> str:
        return f"delay {self.delay:g}s, {self.rate:g}/s, {self.seconds:g}s of enqueues"


def streams(seconds: float, quick: bool, long_delay: float | None) -> list[Stream]:
    """The streams of a run: every delay at 20/s, every rate at 1 s; with ``long_delay``,
    one more of 1 job/s for a minute delayed that long."""
    delays = DELAYS_S[:3] if quick else DELAYS_S
    out = [Stream(d, DELAY_RATE, seconds) for d in delays]
    out += [Stream(RATE_DELAY_S, r, seconds) for r in RATES]
    if long_delay:
        out.append(Stream(long_delay, LONG_RATE, 60.0))
    return out


def sweep(probe: Probe, plan: list[Stream]) -> list[Result]:
    probe.reset()
    app = register(pgqueue.App(dsn=probe.dsn))
    results: list[Result] = []
    try:
        with Workers(probe.dsn) as w:
            w.wait_ready(lambda: probe.one("bench_workers"))
            time.sleep(SETTLE_S)
            for s in plan:
                results.append(_stream(probe, app, s))
    finally:
        app.close()
    return results


def _stream(probe: Probe, app: pgqueue.App, s: Stream) -> Result:
    task = app.tasks["bench.stamp"].configure(delay=s.delay)
    n = max(5, int(s.rate * s.seconds))
    start = time.perf_counter() + 0.05
    ids: list[int] = []
    for i in range(n):
        pause = start + i / s.rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        ids.append(task.enqueue().id)
    deadline = time.monotonic() + s.delay + RESULTS_TIMEOUT_S
    while True:
        rows = probe.all("bench_lateness", {"ids": ids})
        if len(rows) >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(min(1.0, max(0.05, s.delay / 10)))
    if len(rows) != len(ids):
        raise RuntimeError(f"only {len(rows)} of {len(ids)} scheduled jobs ran")
    late = [(float(started) - float(run_at)) * 1000.0 for _, started, run_at in rows]
    pct = percentiles(late)
    return Result(
        "scheduled-lateness",
        s.label(),
        None,
        latency_ms=pct,
        extra={"delay_s": s.delay, "rate": s.rate, "jobs": n, "early": sum(1 for x in late if x < 0)},
        goal=GOAL,
        met=pct["p50"] <= 10.0 and pct["p99"] <= 50.0 and min(late) >= 0,
    )
