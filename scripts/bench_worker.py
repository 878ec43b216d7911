"""Worker benchmarks: drain rate of no-op jobs and enqueue-to-start latency.

    .venv/bin/python scripts/bench_worker.py --dsn postgresql://postgres@127.0.0.1:5432/postgres

Each measurement runs in a fresh database (created from --dsn, migrated, dropped), with
real `pgqueue work` processes. Drain: N no-op jobs inserted with one INSERT ... SELECT,
then P worker processes start; the rate is N / (last finished_at - first started_at),
so interpreter start-up is not counted. Latency: one idle worker; one job per
transaction, spaced out; the task returns time.time() at its start, compared with
time.time() taken just before the enqueuing COMMIT (so commit, NOTIFY, claim and
dispatch are all inside the figure).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

import pgqueue
from pgqueue import _migrate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

app = pgqueue.App()


@app.task(name="bench.noop", store_result=False)
def noop() -> None:
    return None


@app.task(name="bench.stamp")
def stamp() -> float:
    return time.time()


def _db(admin: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


class Database:
    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.name = f"pgq_bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        dsn = _db(self.admin, self.name)
        _migrate.upgrade(dsn)
        return dsn

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


def start_worker(dsn: str, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PGQUEUE_DSN=dsn, PYTHONPATH=f"{HERE}{os.pathsep}{ROOT}")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgqueue.cli",
            "work",
            "--app",
            "bench_worker:app",
            "--log-level",
            "WARNING",
            *args,
        ],
        env=env,
        cwd=ROOT,
    )


def drain(admin: str, jobs: int, processes: int, concurrency: int) -> float:
    with Database(admin) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pgqueue.jobs (task) SELECT 'bench.noop' FROM generate_series(1, %s)", (jobs,)
        )
        conn.execute("VACUUM ANALYZE pgqueue.jobs")
        proc = start_worker(dsn, "--processes", str(processes), "--concurrency", str(concurrency))
        try:
            while True:
                done = conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded'").fetchone()
                if done and done[0] >= jobs:
                    break
                time.sleep(0.05)
            row = conn.execute(
                "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM pgqueue.jobs"
            ).fetchone()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        assert row is not None
        return jobs / float(row[0])


def latency(admin: str, samples: int, spacing: float) -> tuple[float, float]:
    with Database(admin) as dsn, psycopg.connect(dsn) as conn:
        proc = start_worker(dsn, "--concurrency", "10")
        try:
            with psycopg.connect(dsn, autocommit=True) as probe:
                for _ in range(200):
                    if probe.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (1,):
                        break
                    time.sleep(0.05)
            time.sleep(1.0)  # let the worker settle into its idle wait
            sent: dict[int, float] = {}
            for _ in range(samples):
                row = conn.execute(
                    "INSERT INTO pgqueue.jobs (task) VALUES ('bench.stamp') RETURNING id"
                ).fetchone()
                assert row is not None
                t0 = time.time()
                conn.commit()
                sent[row[0]] = t0
                time.sleep(spacing)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT id, result FROM pgqueue.jobs WHERE state = 'succeeded'"
                ).fetchall()
                conn.commit()
                if len(rows) == samples:
                    break
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    lat = sorted((float(result) - sent[job_id]) * 1000 for job_id, result in rows)
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="an admin DSN (databases are created and dropped)")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--spacing", type=float, default=0.01, help="seconds between latency samples")
    args = parser.parse_args()
    for processes in (1, 2):
        rate = drain(args.dsn, args.jobs, processes, args.concurrency)
        print(
            f"drain {args.jobs} no-op jobs, {processes} process(es) x {args.concurrency}: {rate:,.0f} jobs/s"
        )
    p50, p99 = latency(args.dsn, args.samples, args.spacing)
    print(
        f"enqueue commit -> task start, idle worker, {args.samples} samples: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )


if __name__ == "__main__":
    main()
