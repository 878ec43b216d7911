"""The long soak (``make soak``; issue 19 item 3; the short form is tests/soak/test_bounded.py).

    python -m tests.soak.run --minutes 30            # what docs/reliability.md reports

A temporary PostgreSQL cluster of its own (the embedded server's binaries, in
``build/soak/cluster``; autovacuum on its defaults, pg_stat_statements preloaded), a
database migrated to head, and real ``pgqueue work`` processes running a copy of this
checkout taken at start (a worker restarted mid-run runs the same code). For the whole run:

- a steady mixed load: ``--rate`` jobs/s by COPY batches every 100 ms (``soak.work``, 5 %
  failing: retried once, then dead), a chain of three steps and a cancelled delayed job
  per batch, 10 single-enqueued latency probes per second on their own queue, and the app's
  schedule firing every second;
- ``--workers`` worker processes; the first runs from start to end, the others take turns
  being restarted (SIGTERM, graceful) every ``--restart-every`` seconds;
- finished jobs kept 2 minutes (the app's retention, pruned by the workers' own
  maintenance), tick slots 2 minutes (one more maintenance service here: the default is a
  day, a bound a 30-minute run never reaches).

Every 10 s one CSV row (``samples.csv``): table and index sizes and dead tuples per table,
claim and complete statement times (pg_stat_statements, mean over the 10 s), wake-up
latency of the probes (commit to start, database clock), RSS and threads of the long-lived
worker and the largest of all, connections, backlog, the box's 1-minute load average. At
the end the load stops, the queues drain, and the run logs of every attempt are checked.

Pass (exit 0): sizes and the long-lived worker's RSS plateau over the last 20 minutes (the
fitted change over that window is within twice the residual noise, or 5 % of its mean),
latency p99 of the last 5 minutes within 1.5x of the first 5 (after a minute of warm-up),
nothing lost (every job enqueued ran, or was cancelled), nothing run twice (no job id and
attempt twice in the run logs). ``summary.json`` and ``soak.svg`` (tests/soak/plot.py) go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from array import array
from pathlib import Path
from typing import Any, Final

import psycopg

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.soak.long_app:app"
SAMPLE_S = 10.0
PLATEAU_WINDOW_S = 20 * 60.0
LATENCY_WINDOW_S = 5 * 60.0
WARMUP_S = 60.0
"""The start's latency window begins after this (workers starting, first claims)."""
TABLES = ("jobs", "job_dependencies", "schedule_ticks", "workers", "queues", "queue_starts",
          "schedules", "job_history", "queue_history", "history_watermark")  # fmt: skip
CLAIMS = ("claim", "claim_bounded", "claim_limited", "claim_job")
COMPLETES = ("complete_success", "complete_mixed")


def _shape(text: str) -> str:
    """A statement with its parameters and constants blanked (pg_stat_statements shows
    both as $n)."""
    return re.sub(r"\$\d+|%\(\w+\)s|\b(?:false|true|\d+)\b|'[^']*'", "?", text)


def _mark(name: str) -> str:
    """How pg_stat_statements shows the start of query ``name`` (it drops the leading
    comments), in :func:`_shape`."""
    lines = (ROOT / "pgqueue" / "_sql" / f"{name}.sql").read_text().splitlines()
    while lines and (lines[0].startswith("--") or not lines[0].strip()):
        lines.pop(0)
    return _shape("\n".join(lines))[:200]


# --- the cluster ------------------------------------------------------------------------------
def start_cluster(base: Path) -> str:
    from pgqueue import _embedded

    os.environ.pop(_embedded.ENV_DIR, None)
    dsn = _embedded.start(base)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        if row is None or "pg_stat_statements" not in str(row[0]):
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            restart = True
        else:
            restart = False
    if restart:
        _embedded.stop(base)
        dsn = _embedded.start(base)
    return dsn


def with_db(dsn: str, db: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(dsn), "dbname": db})


# --- workers ----------------------------------------------------------------------------------
class Workers:
    def __init__(self, dsn: str, code: Path, out: Path, concurrency: int) -> None:
        self.dsn, self.code, self.out, self.concurrency = dsn, code, out, concurrency
        self.started = 0
        self.restarts = 0

    def start(self) -> subprocess.Popen[bytes]:
        n = self.started
        self.started += 1
        env = dict(os.environ, PGQUEUE_DSN=self.dsn, PYTHONPATH=str(self.code),
                   PGQUEUE_SOAK_RUNLOG=str(self.out / "runs"))  # fmt: skip
        env.pop("DATABASE_URL", None)
        log = open(self.out / f"worker-{n}.log", "wb")  # the child writes it
        cmd = [sys.executable, "-m", "pgqueue.cli", "work", "--app", APP, "-q", "soak,soak.probe",
               "--concurrency", str(self.concurrency)]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=self.code, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        log.close()
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()


def proc_status(pid: int) -> tuple[float, int]:
    """Resident MB and thread count of ``pid`` (0, 0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    rss_kb = float(fields.get("VmRSS", "0 kB").split()[0])
    return rss_kb / 1024.0, int(fields.get("Threads", "0").strip())


# --- load -------------------------------------------------------------------------------------
class Load:
    def __init__(self, app: Any, rate: int) -> None:
        self.app, self.rate = app, rate
        self.expected = array("q")  # ids that must run
        self.cancelled = array("q")
        self.chains = 0
        self.probes = array("q")
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="soak-load", daemon=True)
        self.probe_thread = threading.Thread(target=self._probe, name="soak-probe", daemon=True)

    def _run(self) -> None:
        from pgqueue.workflow import chain
        from tests.soak import long_app

        per_tick = max(1, self.rate // 10)
        i = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                ids = long_app.work.enqueue_many([(n,) for n in range(i, i + per_tick)])
                self.expected.extend(ids)
                i += per_tick
                flow = chain(long_app.step.s(i * 20 + 1), long_app.step.s(), long_app.step.s()).enqueue()
                self.expected.extend(j.id for j in flow.jobs)
                self.chains += 1
                doomed = long_app.work.configure(delay=60).enqueue(1)
                doomed.cancel()
                self.cancelled.append(doomed.id)
            except Exception as exc:  # recorded, and the run fails on it
                self.errors.append(repr(exc))
            next_at += 0.1
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def _probe(self) -> None:
        from tests.soak import long_app

        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                self.probes.append(long_app.probe.enqueue().id)
            except Exception as exc:
                self.errors.append(repr(exc))
            next_at += 0.1
            self.stop.wait(max(0.0, next_at - time.monotonic()))


# --- samples ----------------------------------------------------------------------------------
class Sampler:
    def __init__(self, conn: psycopg.Connection[Any], db: str) -> None:
        self.conn, self.db = conn, db
        self.marks = {n: _mark(n) for n in CLAIMS + COMPLETES}
        self.last: dict[str, tuple[float, float]] = {}
        self.last_probe_id = 0

    def statements(self) -> dict[str, float | None]:
        """Mean ms of the claim and complete statements since the previous sample."""
        rows = self.conn.execute(
            "SELECT query, calls, total_exec_time FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
        now: dict[str, tuple[float, float]] = {}
        for text, calls, total in rows:
            for name, mark in self.marks.items():
                if _shape(text[:400]).startswith(mark):
                    c, t = now.get(name, (0.0, 0.0))
                    now[name] = (c + calls, t + total)
        out: dict[str, float | None] = {}
        for family, names in (("claim", CLAIMS), ("complete", COMPLETES)):
            calls = total = 0.0
            for name in names:
                c, t = now.get(name, (0.0, 0.0))
                pc, pt = self.last.get(name, (0.0, 0.0))
                calls += c - pc
                total += t - pt
            out[f"{family}_ms"] = round(total / calls, 3) if calls > 0 else None
            out[f"{family}_calls"] = calls
        self.last = now
        return out

    def latency(self) -> tuple[list[float], dict[str, float | None]]:
        rows = self.conn.execute(
            "SELECT id, extract(epoch FROM started_at - created_at) * 1000 FROM pgqueue.jobs "
            "WHERE task = 'soak.probe' AND id > %s AND started_at IS NOT NULL ORDER BY id",
            (self.last_probe_id,),
        ).fetchall()
        if rows:
            self.last_probe_id = max(r[0] for r in rows)
        ms = sorted(float(r[1]) for r in rows)
        return ms, {"wake_p50_ms": _pct(ms, 50), "wake_p99_ms": _pct(ms, 99), "probes": len(ms)}

    def tables(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for table in TABLES:
            row = self.conn.execute(
                "SELECT pg_relation_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid), "
                "coalesce(s.n_dead_tup, 0), coalesce(s.n_live_tup, 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'pgqueue' "
                "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
                (table,),
            ).fetchone()
            heap, index, total, dead, live = row or (0, 0, 0, 0, 0)
            out[f"{table}_mb"] = round(total / 2**20, 3)
            out[f"{table}_dead"] = int(dead)
            if table == "jobs":
                out["jobs_heap_mb"] = round(heap / 2**20, 3)
                out["jobs_index_mb"] = round(index / 2**20, 3)
                out["jobs_live"] = int(live)
        return out

    def database(self) -> dict[str, float]:
        conns = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.db,)
        ).fetchone()
        backlog = self.conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'queued' AND run_at <= now()), "
            "count(*) FILTER (WHERE state = 'running') FROM pgqueue.jobs"
        ).fetchone()
        autovac = self.conn.execute(
            "SELECT coalesce(sum(autovacuum_count), 0), coalesce(sum(autoanalyze_count), 0) "
            "FROM pg_stat_user_tables WHERE schemaname = 'pgqueue'"
        ).fetchone()
        assert conns and backlog and autovac
        return {"connections": conns[0], "due": backlog[0], "running": backlog[1],
                "autovacuums": autovac[0], "autoanalyzes": autovac[1]}  # fmt: skip


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(p / 100.0 * (len(values) - 1))))
    return round(sorted(values)[k], 3)


# --- verdicts ---------------------------------------------------------------------------------
PAGES_MB: Final = 8 * 8192 / 2**20
"""Sizes change by whole 8 kB pages: a change of fewer than 8 pages (64 kB) is below what a
size sample of a small table can resolve (added after the first 30-minute run, whose
tick table went from 10 to 15 pages; docs/reliability.md)."""


def plateau(ts: list[float], ys: list[float], floor: float = 0.0) -> dict[str, Any]:
    """Least-squares fit over the samples given: the fitted change across them, the
    residual noise (stdev) and the verdict (change within 2x noise, 5 % of the mean, or
    ``floor``)."""
    n = len(ts)
    if n < 3:
        return {"ok": None, "reason": "too few samples"}
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    sxx = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / sxx if sxx else 0.0
    resid = [y - (my + slope * (t - mt)) for t, y in zip(ts, ys, strict=True)]
    noise = statistics.pstdev(resid)
    change = slope * (ts[-1] - ts[0])
    allowed = max(2 * noise, 0.05 * abs(my), floor)
    return {"mean": round(my, 3), "change": round(change, 3), "noise": round(noise, 3),
            "allowed": round(allowed, 3), "ok": abs(change) <= allowed}  # fmt: skip


def check_runs(folder: Path, load: Load) -> dict[str, Any]:
    """Read every attempt's line: one byte per job id holds the attempts seen (bit n:
    attempt n), so millions of jobs fit in a few MB."""
    seen = bytearray()
    tasks: dict[str, int] = {}
    twice = []
    for path in folder.glob("runs-*.log"):
        with path.open() as f:
            for line in f:
                parts = line.split()
                if len(parts) != 3:
                    continue
                job, attempt = int(parts[0]), min(int(parts[1]), 7)
                tasks[parts[2]] = tasks.get(parts[2], 0) + 1
                if job >= len(seen):
                    seen.extend(bytes(job + 1_000_000 - len(seen)))
                if seen[job] & (1 << attempt):
                    twice.append((job, attempt))
                seen[job] |= 1 << attempt

    def ran(job: int) -> bool:
        return job < len(seen) and seen[job] != 0

    lost = [j for j in (*load.expected, *load.probes) if not ran(j)]
    ran_cancelled = [j for j in load.cancelled if ran(j)]
    return {"attempts": sum(tasks.values()), "by_task": tasks,
            "expected": len(load.expected) + len(load.probes), "lost": len(lost), "lost_ids": lost[:20],
            "run_twice": len(twice), "run_twice_ids": twice[:20], "cancelled": len(load.cancelled),
            "cancelled_but_ran": len(ran_cancelled), "chains": load.chains}  # fmt: skip


# --- the run ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=2000, help="soak.work jobs/s (plus chains, probes)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--restart-every", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster's files")
    args = parser.parse_args(argv)
    out = (args.out or ROOT / "build" / "soak" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    (out / "runs").mkdir(parents=True, exist_ok=True)
    code = out / "code"  # the code the workers run, fixed at start
    for part in ("pgqueue", "migrations", "tests"):
        shutil.copytree(ROOT / part, code / part, ignore=shutil.ignore_patterns("__pycache__"))
    base = ROOT / "build" / "soak" / "cluster"
    server = start_cluster(base)
    db = f"pgqueue_soak_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')  # a generated, quoted name
    dsn = with_db(server, db)
    print(f"soak: {args.minutes} min, {args.rate} jobs/s, {args.workers} workers; database {db}; out {out}",
          flush=True)  # fmt: skip
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "database": db}
    try:
        result.update(run(dsn, db, out, code, args))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if not args.keep_cluster:
            from pgqueue import _embedded

            _embedded.stop(base)
            shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(code, ignore_errors=True)
    (out / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    from tests.soak import plot

    plot.write_svg(out / "samples.csv", out / "soak.svg")
    print(json.dumps(result["verdict"], indent=2), flush=True)
    return 0 if result["verdict"]["pass"] else 1


def run(dsn: str, db: str, out: Path, code: Path, args: argparse.Namespace) -> dict[str, Any]:
    import csv

    from pgqueue import _migrate
    from pgqueue._maintenance.config import MaintenanceConfig
    from pgqueue._maintenance.service import Maintenance
    from tests.soak import long_app

    _migrate.upgrade(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    long_app.app._dsn = dsn
    long_app.app._resolved_dsn = None
    workers = Workers(dsn, code, out, args.concurrency)
    stayer = workers.start()
    turns = [workers.start() for _ in range(args.workers - 1)]
    maintenance = Maintenance(
        MaintenanceConfig(rescue=False, retention=False, cron=True, tick_retention=long_app.KEEP_S,
                          tick_prune_interval=30.0),
        app=long_app.app, pool=long_app.app.pool, worker_id=uuid.uuid4(), heartbeat_interval=3.0,
        healthy_since=lambda: 0.0, on_rescued=lambda jobs: None,
    )  # fmt: skip
    load = Load(long_app.app, args.rate)
    conn = psycopg.connect(dsn, autocommit=True)
    sampler = Sampler(conn, db)
    rows: list[dict[str, Any]] = []
    latencies: list[tuple[float, float]] = []
    exits: list[int] = []
    seconds = args.minutes * 60.0
    csv_file = (out / "samples.csv").open("w", newline="")
    writer: Any = None
    try:
        maintenance.start()
        load.thread.start()
        load.probe_thread.start()
        started = time.monotonic()
        next_restart = started + args.restart_every
        next_sample = started + SAMPLE_S
        sampler.statements()
        pace = threading.Event()
        while (now := time.monotonic()) - started < seconds:
            if turns and now >= next_restart:
                exits.append(Workers.stop(turns.pop(0)))
                turns.append(workers.start())
                workers.restarts += 1
                next_restart = now + args.restart_every
            if now >= next_sample:
                t = round(now - started, 1)
                ms, lat = sampler.latency()
                latencies.extend((t, m) for m in ms)
                procs = [stayer, *turns]
                status = [proc_status(p.pid) for p in procs]
                row: dict[str, Any] = {"t_s": t, "enqueued": len(load.expected) + len(load.cancelled)}
                row |= sampler.tables() | sampler.statements() | lat | sampler.database()
                row |= {"stayer_rss_mb": round(status[0][0], 1), "stayer_threads": status[0][1],
                        "max_rss_mb": round(max(s[0] for s in status), 1),
                        "max_threads": max(s[1] for s in status),
                        "load1": float(Path("/proc/loadavg").read_text().split()[0])}  # fmt: skip
                if writer is None:
                    writer = csv.DictWriter(csv_file, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                csv_file.flush()
                rows.append(row)
                print(f"t={t:6.0f}s enq={row['enqueued']} jobs={row['jobs_mb']}MB dead={row['jobs_dead']} "
                      f"claim={row['claim_ms']}ms complete={row['complete_ms']}ms p99={row['wake_p99_ms']}ms "
                      f"rss={row['stayer_rss_mb']}MB conns={row['connections']} due={row['due']}",
                      flush=True)  # fmt: skip
                next_sample += SAMPLE_S
            pace.wait(0.2)
        load.stop.set()
        load.thread.join(60)
        load.probe_thread.join(60)
        # Drain: every job the load made reaches a terminal state (its runs are logged).
        deadline = time.monotonic() + 300
        pending: Any = None
        while time.monotonic() < deadline:
            pending = conn.execute(
                "SELECT count(*) FROM pgqueue.jobs WHERE state IN ('queued', 'running', 'waiting') "
                "AND task <> 'soak.tick' AND cancel_requested_at IS NULL"
            ).fetchone()
            if pending == (0,):
                break
            pace.wait(1.0)
    finally:
        load.stop.set()
        maintenance.stop()
        for proc in [stayer, *turns]:
            exits.append(Workers.stop(proc))
        csv_file.close()
        conn.close()
        long_app.app.close()
    runs = check_runs(out / "runs", load)
    return {"samples": len(rows), "restarts": workers.restarts, "worker_exits": exits,
            "pending_after_drain": pending, "load_errors": load.errors[:20], "runs": runs,
            "verdict": verdict(rows, latencies, runs, exits, load.errors, seconds)}  # fmt: skip


def verdict(rows: list[dict[str, Any]], latencies: list[tuple[float, float]], runs: dict[str, Any],
            exits: list[int], errors: list[str], seconds: float) -> dict[str, Any]:  # fmt: skip
    end = rows[-1]["t_s"] if rows else 0.0
    window = [r for r in rows if r["t_s"] >= end - PLATEAU_WINDOW_S]
    ts = [float(r["t_s"]) for r in window]
    series = ["jobs_mb", "jobs_heap_mb", "jobs_index_mb", "job_dependencies_mb", "schedule_ticks_mb",
              "workers_mb", "queue_starts_mb", "stayer_rss_mb", "stayer_threads"]  # fmt: skip
    plateaus = {
        name: plateau(
            ts,
            [float(r[name]) for r in window],
            PAGES_MB if name.endswith("_mb") and name != "stayer_rss_mb" else 0.0,
        )
        for name in series
    }
    start_ms = [m for t, m in latencies if WARMUP_S < t <= WARMUP_S + LATENCY_WINDOW_S]
    end_ms = [m for t, m in latencies if t > end - LATENCY_WINDOW_S]
    p99_start, p99_end = _pct(start_ms, 99), _pct(end_ms, 99)
    ratio = round(p99_end / p99_start, 2) if p99_start and p99_end is not None else None
    checks = {
        "plateau": all(p["ok"] for p in plateaus.values()),
        "latency_p99": ratio is not None and ratio <= 1.5,
        "nothing_lost": runs["lost"] == 0 and not errors,
        "nothing_twice": runs["run_twice"] == 0 and runs["cancelled_but_ran"] == 0,
        "workers_exit_0": all(code == 0 for code in exits),
    }
    return {"pass": all(checks.values()), "checks": checks, "plateaus": plateaus,
            "wake_ms": {"p50_start": _pct(start_ms, 50), "p99_start": p99_start, "p50_end": _pct(end_ms, 50),
                        "p99_end": p99_end, "p99_ratio": ratio},
            "seconds": seconds}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
