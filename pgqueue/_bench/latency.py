"""``latency``: idle workers, a steady trickle of jobs, enqueue commit to task start; and
``idle``: what an idle worker process costs (queries per second, resident memory)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

import pgqueue

from .. import _db
from .._sql import query
from .db import Probe, database_dsn
from .report import Result, percentiles
from .tasks import QUEUE, register
from .workers import Workers

SETTLE_S = 1.0
"""After start-up, before the first sample: the worker is in its idle wait."""
RESULTS_TIMEOUT_S = 60.0
SHORT_S = 3.0


def latency(probe: Probe, rate: float, seconds: float, *, listen: bool, poll_interval: float) -> Result:
    """``rate`` jobs/s for ``seconds`` to one idle worker process, each its own
    transaction through ``enqueue(conn=...)``. All times are the host's clock, which
    is the database's (the bench, the worker and Postgres share one host).

    The job is committed at some instant inside the producer's ``commit()`` call: after
    the commit record's WAL flush (the job is not durable, nor visible, before it) and
    before the call returns. Two figures bracket that instant:

    - the headline (``latency_ms``, judged against the goal): task start minus the time
      taken just before sending COMMIT. It includes the producer's own WAL flush
      (``commit_ms``), which no worker can shorten: an upper bound.
    - ``from_commit_returned_ms`` (also in the variant): task start minus the time
      ``commit()`` returned. The commit happened before that, so this errs low by the
      answer's trip back and the producer's own wake-up.
    """
    probe.reset()
    extra = ("--listen",) if listen else ("--no-listen", "--poll-interval", str(poll_interval))
    app = register(pgqueue.App(dsn=probe.dsn))
    stamp = app.tasks["bench.stamp"]
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    with Workers(probe.dsn, extra=extra) as w, _db.connect(probe.dsn, autocommit=False) as conn:
        w.wait_ready(lambda: probe.one("bench_workers"))
        time.sleep(SETTLE_S)
        n = max(1, int(rate * seconds))
        start = time.perf_counter()
        for i in range(n):
            pause = start + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            job = stamp.configure(conn=conn).enqueue()
            t0 = time.time()
            conn.commit()
            sent[job.id] = t0
            acked[job.id] = time.time()
        deadline = time.monotonic() + RESULTS_TIMEOUT_S
        while True:
            rows = probe.all("bench_stamps", {"queue": QUEUE})
            if len(rows) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    app.close()
    lat = [(float(started) - sent[job_id]) * 1000.0 for job_id, started in rows if job_id in sent]
    if len(lat) != len(sent):
        raise RuntimeError(f"only {len(lat)} of {len(sent)} latency jobs ran")
    pct = percentiles(lat)
    commit = percentiles([(acked[i] - sent[i]) * 1000.0 for i in sent])
    from_ack = percentiles([(float(s) - acked[i]) * 1000.0 for i, s in rows if i in acked])
    if listen:
        goal, met = "p50 <= 2.5, p99 <= 6 ms", pct["p50"] <= 2.5 and pct["p99"] <= 6.0
    else:
        goal, met = f"poll every {poll_interval:g}s (no goal)", None
    mode = "LISTEN" if listen else f"poll-only, every {poll_interval:g}s"
    returned = f"from COMMIT returned: p50 {from_ack['p50']:.2f}, p99 {from_ack['p99']:.2f}"
    return Result(
        "latency",
        f"{rate:g} jobs/s for {seconds:g}s, {mode}; from before COMMIT ({returned})",
        None,
        latency_ms=pct,
        extra={"commit_ms": commit, "from_commit_returned_ms": from_ack},
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
