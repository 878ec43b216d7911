"""``latency``: idle workers, a steady trickle of jobs, enqueue commit to task start; and
``idle``: what an idle worker process costs (queries per second, resident memory)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

import pgqueue

from .. import _db
from .db import Probe, database_dsn
from .report import Result, percentiles
from .sql import query
from .tasks import register
from .workers import Workers

SETTLE_S = 1.0
"""After start-up, before the first sample: the worker is in its idle wait."""
RESULTS_TIMEOUT_S = 60.0
SHORT_S = 3.0


SWEEP_RATES = (1.0, 20.0, 50.0, 200.0, 1000.0)
"""Steady enqueue rates of the latency sweep, jobs/s."""
MIN_SAMPLES_PER_S = 2
"""A low rate runs longer: at least this many jobs per second of ``seconds`` (and 5)."""


@dataclass(frozen=True)
class Stream:
    """One steady stream: ``rate`` jobs/s in all, spread over ``producers`` threads, each
    job its own transaction. ``path``: ``pool`` is ``task.enqueue()`` on pgqueue's own
    pool (where wake-ups of single enqueues are coalesced, pgqueue._wake); ``conn`` is
    ``task.configure(conn=...).enqueue()`` and ``commit()`` on the producer's connection."""

    rate: float
    producers: int
    path: str
    task: str = "bench.stamp"

    def label(self) -> str:
        kind = "async task" if self.task == "bench.astamp" else "sync task"
        how = "enqueue()" if self.path == "pool" else "enqueue(conn=...)"
        return f"{self.rate:g}/s, {self.producers} producer(s), {how}, {kind}"


def sweep(probe: Probe, seconds: float) -> list[Result]:
    """The latency sweep with one idle worker process (LISTEN): every rate of
    :data:`SWEEP_RATES` through both enqueue paths with 1 and 4 producers (sync task),
    and the own-pool path with an async task. Each stream runs ``seconds`` (at least
    :data:`MIN_SAMPLES` jobs); the worker serves every rate of one (path, producers)
    pair in turn, so it is idle again before each stream starts."""
    shapes = [(path, n, "bench.stamp") for path in ("pool", "conn") for n in (1, 4)]
    shapes.append(("pool", 1, "bench.astamp"))
    results: list[Result] = []
    for path, producers, task in shapes:
        probe.reset()
        app = register(pgqueue.App(dsn=probe.dsn))
        try:
            with Workers(probe.dsn, extra=("--listen",)) as w:
                w.wait_ready(lambda: probe.one("bench_workers"))
                time.sleep(SETTLE_S)
                for rate in SWEEP_RATES:
                    results.append(_stream(probe, app, Stream(rate, producers, path, task), seconds))
        finally:
            app.close()
    return results


def latency(probe: Probe, rate: float, seconds: float, *, listen: bool, poll_interval: float) -> Result:
    """One stream of ``rate`` jobs/s for ``seconds`` to one idle worker process through
    ``enqueue(conn=...)``, with LISTEN or poll-only (``--no-listen``)."""
    probe.reset()
    extra = ("--listen",) if listen else ("--no-listen", "--poll-interval", str(poll_interval))
    app = register(pgqueue.App(dsn=probe.dsn))
    try:
        with Workers(probe.dsn, extra=extra) as w:
            w.wait_ready(lambda: probe.one("bench_workers"))
            time.sleep(SETTLE_S)
            result = _stream(probe, app, Stream(rate, 1, "conn"), seconds)
    finally:
        app.close()
    if not listen:
        result.variant += f"; poll-only, every {poll_interval:g}s"
        result.goal, result.met = f"poll every {poll_interval:g}s (no goal)", None
    return result


def _stream(probe: Probe, app: pgqueue.App, s: Stream, seconds: float) -> Result:
    """Run one stream and measure enqueue commit to task start. All times are the host's
    clock, which is the database's (the bench, the worker and Postgres share one host).

    The job is committed at some instant inside the producer's call: after the commit
    record's WAL flush (the job is not durable, nor visible, before it) and before the
    call returns. Two figures bracket that instant:

    - the headline (``latency_ms``, judged against the goal): task start minus the time
      taken just before sending COMMIT (``conn``), or just before calling ``enqueue()``
      (``pool``: that includes the INSERT too). It includes the producer's own WAL flush,
      which no worker can shorten: an upper bound.
    - ``from_commit_returned_ms``: task start minus the time the call returned. The
      commit happened before that, so this errs low by the answer's trip back.
    """
    task = app.tasks[s.task]
    n = max(5, int(MIN_SAMPLES_PER_S * seconds), int(s.rate * seconds))
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.05

    def produce(k: int) -> None:
        conn = _db.connect(probe.dsn, autocommit=False) if s.path == "conn" else None
        try:
            for i in range(k, n, s.producers):
                pause = start + i / s.rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                if conn is not None:
                    job = task.configure(conn=conn).enqueue()
                    t0 = time.time()
                    conn.commit()
                else:
                    t0 = time.time()
                    job = task.enqueue()
                t1 = time.time()
                with lock:
                    sent[job.id], acked[job.id] = t0, t1
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(s.producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = list(sent)
    deadline = time.monotonic() + RESULTS_TIMEOUT_S
    while True:
        rows = probe.all("bench_stamps", {"ids": ids})
        if len(rows) >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if len(rows) != len(ids):
        raise RuntimeError(f"only {len(rows)} of {len(ids)} latency jobs ran")
    pct = percentiles([(float(started) - sent[i]) * 1000.0 for i, started in rows])
    from_ack = percentiles([(float(started) - acked[i]) * 1000.0 for i, started in rows])
    if s.rate <= 200:
        goal, met = "p50 <= 2.5, p99 <= 6 ms", pct["p50"] <= 2.5 and pct["p99"] <= 6.0
    else:
        goal, met = "p99 <= 10 ms", pct["p99"] <= 10.0
    return Result(
        "latency",
        s.label(),
        None,
        latency_ms=pct,
        extra={
            "rate": s.rate,
            "producers": s.producers,
            "path": s.path,
            "task": s.task,
            "from_commit_returned_ms": from_ack,
        },
        goal=goal,
        met=met,
    )


def idle(probe: Probe, seconds: float) -> Result:
    """One worker process with nothing to do: statements per second and resident memory.

    Statements are counted as commits of the scenario database (each statement the worker
    runs is one autocommit transaction), read from another database so the reading is not
    counted: a run of ``SHORT_S`` and one of ``SHORT_S + seconds``, each with its
    start-up and shutdown, and the difference divided by ``seconds``. The bench's own
    connection is closed meanwhile."""
    probe.reset()
    probe.close()
    watch = _db.connect(database_dsn(probe.dsn, "postgres"), application_name="pgqueue-bench")
    counts: list[int] = []
    rss_mb = float("nan")
    try:
        for length in (SHORT_S, SHORT_S + seconds):
            before = _commits_when_gone(watch, probe.db)
            with Workers(probe.dsn) as w:
                time.sleep(length)
                assert w.proc is not None
                rss_mb = _rss_mb(w.proc.pid)
            counts.append(_commits_when_gone(watch, probe.db) - before)
    finally:
        watch.close()
        probe.reopen()
    qps = max(0, counts[1] - counts[0]) / seconds
    return Result(
        "idle",
        f"1 worker process, defaults, {seconds:g}s",
        None,
        goal="<= 1 query/s, RSS <= 80 MB",
        met=qps <= 1.0 and rss_mb <= 80.0,
        extra={"queries_per_s": round(qps, 2), "rss_mb": round(rss_mb, 1)},
    )


def _commits_when_gone(watch: psycopg.Connection[Any], db: str) -> int:
    deadline = time.monotonic() + 15.0
    while True:
        watch.execute(query("bench_clear_snapshot"))
        row = watch.execute(query("bench_db_commits"), {"db": db}).fetchone()
        assert row is not None
        if row[1] == 0 or time.monotonic() > deadline:
            return int(row[0])
        time.sleep(0.05)


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")
