"""Enqueue scenarios: ``enqueue-bulk`` (one ``enqueue_many`` call, COPY) and
``enqueue-single`` (one ``enqueue`` call per job, from 1 and from 8 producer processes)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Any

import pgqueue

from .db import Probe
from .report import Result, median
from .tasks import register

PRODUCERS_TIMEOUT_S = 300.0
WARMUP = 100
"""Enqueues each producer makes before the clock starts (pool connection, caches)."""


def _app(dsn: str, pool: int = 1) -> pgqueue.App:
    return register(pgqueue.App(dsn=dsn, pool_min_size=1, pool_max_size=pool))


def bulk(probe: Probe, jobs: int, runs: int) -> Result:
    """``jobs`` no-op jobs through one ``enqueue_many`` call (validation, encoding, COPY,
    commit all timed); median of ``runs``, the table emptied in between."""
    rates: list[float] = []
    counters = None
    for i in range(runs):
        probe.reset()
        app = _app(probe.dsn)
        noop = app.tasks["bench.noop"]
        items: list[tuple[Any, ...]] = [()] * jobs
        noop.enqueue_many(items[:10])  # open the pool before the clock starts
        probe.reset()
        before = probe.snapshot() if i == 0 else None
        start = time.perf_counter()
        ids = noop.enqueue_many(items)
        rates.append(jobs / (time.perf_counter() - start))
        app.close()
        if len(ids) != jobs:
            raise RuntimeError(f"enqueue_many returned {len(ids)} ids for {jobs} jobs")
        if before is not None:
            counters = probe.counters(before, jobs).as_dict()
    rate = median(rates)
    return Result(
        "enqueue-bulk",
        f"{jobs:,} jobs, enqueue_many",
        rate,
        rates,
        counters=counters,
        goal=">= 100,000/s",
        met=rate >= 100_000,
    )


def _producer(dsn: str, count: int, start_at: float, out: Any) -> None:
    app = _app(dsn)
    noop = app.tasks["bench.noop"]
    with app:
        for _ in range(WARMUP):
            noop.enqueue()
        while time.time() < start_at:
            time.sleep(0.001)
        t0 = time.perf_counter()
        for _ in range(count):
            noop.enqueue()
        out.put(time.perf_counter() - t0)


def single(probe: Probe, jobs: int, producers: int) -> Result:
    """``jobs`` single ``enqueue`` calls (each its own autocommit INSERT) split over
    ``producers`` processes that start together; rate = jobs / slowest producer's time."""
    probe.reset()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 2.0 + 0.3 * producers  # after every producer has warmed up
    each = jobs // producers
    before = probe.snapshot()
    procs = [ctx.Process(target=_producer, args=(probe.dsn, each, start_at, out)) for _ in range(producers)]
    for p in procs:
        p.start()
    times: list[float] = []
    deadline = time.monotonic() + PRODUCERS_TIMEOUT_S
    while len(times) < producers:
        try:
            times.append(float(out.get(timeout=1.0)))
        except queue.Empty:
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"enqueue producers failed (exit codes {failed})") from None
    for p in procs:
        p.join()
    total = each * producers
    rate = total / max(times)
    counters = probe.counters(before, total + WARMUP * producers).as_dict()
    goal = 3_500 if producers == 1 else 10_000
    return Result(
        "enqueue-single",
        f"{total:,} calls, {producers} producer(s)",
        rate,
        [rate],
        counters=counters,
        goal=f">= {goal:,}/s",
        met=rate >= goal,
    )
