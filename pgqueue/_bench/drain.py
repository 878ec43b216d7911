"""Drain scenarios: ``drain`` (a backlog of no-op jobs, 1 and 2 worker processes, with the
statistics autovacuum leaves after the backlog arrived, and with those of an empty
table), ``drain-backlog-growth`` (the first jobs of a 10k, 100k and 1M backlog),
``history`` (the same with finished jobs retained), ``retries`` (5% fail once, 0.5%
always), ``drain-process`` (the same drain with ``--pool process``: sync jobs in the
worker's pre-forked children, judged against the thread pool of the same run) and
``ceiling`` (a bare-SQL claim/complete loop, the reference on this box)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from .db import Probe
from .report import Result, median
from .sql import query
from .tasks import QUEUE
from .workers import Workers

POLL_S = 0.1
DRAIN_TIMEOUT_S = 300.0


@dataclass
class Drained:
    rate: float
    counters: dict[str, Any]


STATS = ("backlog", "empty")
"""Planner statistics a drain starts with. ``backlog``: VACUUM (ANALYZE) after seeding, what
autovacuum leaves once the backlog arrived (every job queued, none running). ``empty``:
analyzed while the table was empty, then seeded: what a fresh deployment's first burst
meets."""


def seed(
    probe: Probe, jobs: int, sql_name: str = "bench_seed", stats: str = "backlog", task: str = "bench.noop"
) -> None:
    if stats == "empty":
        probe.run("bench_vacuum")
    probe.run(sql_name, {"n": jobs, "queue": QUEUE, "task": task, "max_attempts": 5})
    if stats == "backlog":
        probe.run("bench_vacuum")


def run_workers(
    probe: Probe, jobs: int, processes: int, concurrency: int | None, extra: tuple[str, ...] = ()
) -> Drained:
    """Start the workers on the seeded backlog and wait until every job is finished; the
    rate is finished jobs / (last finish - first start) on the database clock."""
    since = probe.one("bench_now")
    before = probe.snapshot()
    with Workers(probe.dsn, processes=processes, concurrency=concurrency, extra=extra) as w:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while probe.one("bench_pending", {"queue": QUEUE}):
            if time.monotonic() > deadline:
                raise RuntimeError("drain did not finish in time")
            w._check_alive()
            time.sleep(POLL_S)
    done, seconds = probe.conn.execute(query("bench_span"), {"queue": QUEUE, "since": since}).fetchone() or (
        0,
        0,
    )
    if done != jobs:
        raise RuntimeError(f"{done} of {jobs} jobs finished")
    return Drained(jobs / float(seconds), probe.counters(before, jobs).as_dict())


def drain(
    probe: Probe, jobs: int, processes: int, concurrency: int | None, runs: int, stats: str = "backlog"
) -> Result:
    rates: list[float] = []
    counters: dict[str, Any] = {}
    for _ in range(runs):
        probe.reset()
        seed(probe, jobs, stats=stats)
        d = run_workers(probe, jobs, processes, concurrency)
        rates.append(d.rate)
        counters = counters or d.counters
    label = "default" if concurrency is None else str(concurrency)
    return Result(
        "drain",
        f"{jobs:,} no-op, {processes} proc x concurrency {label}, statistics: {stats}",
        median(rates),
        rates,
        counters=counters,
        extra={"processes": processes, "concurrency": concurrency, "stats": stats},
    )


def drain_process(
    probe: Probe, jobs: int, concurrency: int | None, pool_size: int, runs: int, thread_rate: float | None
) -> Result:
    """The ``drain`` of no-op sync jobs by one worker process with ``--pool process
    --pool-size pool_size``; goal: >= 0.5x the best one-process thread drain of this run."""
    rates: list[float] = []
    counters: dict[str, Any] = {}
    extra = ("--pool", "process", "--pool-size", str(pool_size))
    for _ in range(runs):
        probe.reset()
        seed(probe, jobs)
        d = run_workers(probe, jobs, 1, concurrency, extra)
        rates.append(d.rate)
        counters = counters or d.counters
    rate = median(rates)
    label = "default" if concurrency is None else str(concurrency)
    info: dict[str, Any] = {"processes": 1, "concurrency": concurrency, "pool_size": pool_size}
    met = None
    if thread_rate:
        info["ratio_to_thread"] = round(rate / thread_rate, 3)
        info["thread_rate"] = round(thread_rate, 1)
        met = rate >= 0.5 * thread_rate
    return Result(
        "drain-process",
        f"{jobs:,} no-op, --pool process, {pool_size} child(ren), 1 proc x concurrency {label}",
        rate,
        rates,
        counters=counters,
        goal=">= 0.5x the thread pool (1 proc, same run)",
        met=met,
        extra=info,
    )


def growth(probe: Probe, backlogs: tuple[int, ...], measured: int, concurrency: int | None) -> list[Result]:
    """One worker process drains the first ``measured`` jobs of a backlog of each size in
    ``backlogs`` (analyzed after seeding); the rate is those jobs over the time from the
    first start to the ``measured``-th finish. Goal: no backlog drains slower than 0.9x
    the smallest one."""
    results: list[Result] = []
    for backlog in backlogs:
        probe.reset()
        seed(probe, backlog)
        since = probe.one("bench_now")
        before = probe.snapshot()
        with Workers(probe.dsn, processes=1, concurrency=concurrency) as w:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while True:
                done, seconds = probe.conn.execute(
                    query("bench_first_done"), {"queue": QUEUE, "since": since, "n": measured}
                ).fetchone() or (0, 0.0)
                if done >= min(measured, backlog):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("backlog drain did not finish in time")
                w._check_alive()
                time.sleep(POLL_S)
        counters = probe.counters(before, done).as_dict()
        rate = done / float(seconds)
        results.append(
            Result(
                "drain-backlog-growth",
                f"first {done:,} of {backlog:,} queued, 1 proc",
                rate,
                [rate],
                counters=counters,
                extra={"backlog": backlog, "measured": done},
            )
        )
    base = results[0].rate or 0.0
    for r in results[1:]:
        ratio = (r.rate or 0.0) / base if base else 0.0
        r.extra["ratio_to_smallest"] = round(ratio, 3)
        r.goal, r.met = f">= 0.9x the {backlogs[0]:,} backlog", ratio >= 0.9
    return results


def history(
    probe: Probe, jobs: int, retained: int, concurrency: int | None, clean: float, runs: int
) -> Result:
    """Drain ``jobs`` with ``retained`` finished jobs in the table (seeded once, kept)."""
    probe.reset()
    probe.run("bench_seed_history", {"n": retained, "queue": QUEUE})
    rates: list[float] = []
    counters: dict[str, Any] = {}
    for _ in range(runs):
        seed(probe, jobs)
        d = run_workers(probe, jobs, 1, concurrency)
        rates.append(d.rate)
        counters = counters or d.counters
    rate = median(rates)
    ratio = rate / clean
    return Result(
        "history",
        f"{jobs:,} no-op, {retained:,} finished retained, 1 proc",
        rate,
        rates,
        counters=counters,
        goal=">= 0.9x clean drain",
        met=ratio >= 0.9,
        extra={"ratio_to_clean": round(ratio, 3), "clean_rate": round(clean, 1)},
    )


def retries(probe: Probe, jobs: int, concurrency: int | None, clean: float) -> Result:
    """``jobs`` jobs of which 5% fail once and 0.5% always (3 attempts, no back-off);
    checks the exact final counts and attempts."""
    probe.reset()
    seed(probe, jobs, "bench_seed_mixed")
    d = run_workers(probe, jobs, 1, concurrency)
    always = jobs // 200
    once = jobs // 20 - always
    plain = jobs - always - once
    expected = {
        ("bench.noop", "succeeded"): (plain, plain),
        ("bench.fail_once", "succeeded"): (once, 2 * once),
        ("bench.fail_always", "dead"): (always, 3 * always),
    }
    found = {(t, s): (int(c), int(a)) for t, s, c, a in probe.all("bench_outcomes", {"queue": QUEUE})}
    exact = found == expected
    ratio = d.rate / clean
    return Result(
        "retries",
        f"{jobs:,} jobs, 5% fail once, 0.5% always, 1 proc",
        d.rate,
        [d.rate],
        counters=d.counters,
        goal=">= 0.85x clean drain, exact counts",
        met=exact and ratio >= 0.85,
        extra={
            "ratio_to_clean": round(ratio, 3),
            "counts_exact": exact,
            "found": {f"{t}/{s}": v for (t, s), v in found.items()},
        },
    )


def ceiling(probe: Probe, jobs: int, batch: int, runs: int) -> Result:
    """A bare claim-``batch`` + batched-complete loop on one connection, no pgqueue code."""
    rates: list[float] = []
    counters: dict[str, Any] = {}
    from .. import _db

    for _ in range(runs):
        probe.reset()
        seed(probe, jobs)
        before = probe.snapshot()
        worker = uuid.uuid4()
        with _db.connect(probe.dsn) as conn:
            claim, complete = query("bench_ceiling_claim"), query("bench_ceiling_complete")
            args = {"worker": worker, "queue": QUEUE, "limit": batch}
            start = time.perf_counter()
            done = 0
            while True:
                rows = conn.execute(claim, args).fetchall()
                if not rows:
                    break
                conn.execute(
                    complete,
                    {"ids": [r[0] for r in rows], "attempts": [r[1] for r in rows], "worker": worker},
                )
                done += len(rows)
            rates.append(done / (time.perf_counter() - start))
        counters = counters or probe.counters(before, jobs).as_dict()
    return Result(
        "ceiling",
        f"bare SQL, claim {batch} + batched complete, 1 conn",
        median(rates),
        rates,
        counters=counters,
        extra={"batch": batch},
    )


def transactional(probe: Probe, jobs: int, concurrency: int | None, clean: float) -> Result:
    """``jobs`` transactional jobs (``bench.tx_insert``: each inserts one business row in its
    own transaction, committed with its completion), 1 process; checks one row per job."""
    probe.reset()
    probe.run("bench_effects")
    seed(probe, jobs, task="bench.tx_insert")
    d = run_workers(probe, jobs, 1, concurrency)
    rows = probe.one("bench_effects_count")
    ratio = d.rate / clean if clean else 0.0
    return Result(
        "drain-transactional",
        f"{jobs:,} transactional jobs, one row each, 1 proc",
        d.rate,
        [d.rate],
        counters=d.counters,
        goal="one row per job (no speed goal: each costs its own commit)",
        met=rows == jobs,
        extra={"ratio_to_clean": round(ratio, 3), "rows": rows, "clean_rate": round(clean, 1)},
    )
