"""Enqueue benchmarks: bulk enqueue_many and single-job enqueue from 1 and 8 producers.

    .venv/bin/python scripts/bench_enqueue.py --dsn postgresql://postgres@127.0.0.1:5432/postgres

Runs in a fresh database (created from --dsn, migrated, dropped). Bulk: N jobs with one
``task.enqueue_many`` call on pgqueue's own pool (one transaction, committed), timed from
the call to its return, argument encoding and validation included; the table is emptied
between runs. Single: each producer process calls ``task.enqueue(i)`` in a loop (one
INSERT, one autocommit round trip each) for a fixed time after a warm-up; the rate is the
total count over the wall time of the measuring window. The same loop with a hand-written
INSERT on a plain connection is measured in the same run as the baseline: one commit per
job is bound by the server's WAL flush, whoever sends it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
import uuid

import psycopg
from psycopg import sql

import pgqueue
from pgqueue import _migrate


def _db(admin: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def make_app(dsn: str) -> tuple[pgqueue.App, pgqueue.Task[[int], None]]:
    app = pgqueue.App(dsn=dsn, pool_min_size=1, pool_max_size=2)

    @app.task(name="bench.noop", queue="bench")
    def noop(n: int) -> None:
        return None

    return app, noop


def bulk(dsn: str, jobs: int, runs: int) -> list[float]:
    rates = []
    app, noop = make_app(dsn)
    with app, psycopg.connect(dsn, autocommit=True) as admin:
        items = [(i,) for i in range(jobs)]
        for _ in range(runs):
            admin.execute("TRUNCATE pgqueue.jobs CASCADE")
            admin.execute("CHECKPOINT")
            start = time.perf_counter()
            ids = noop.enqueue_many(items)
            rates.append(jobs / (time.perf_counter() - start))
            assert len(ids) == jobs
    return rates


BARE_INSERT = "INSERT INTO pgqueue.jobs (queue, task, args) VALUES ('bench', 'bench.noop', %s)"


def _producer(dsn: str, seconds: float, start_at: float, bare: bool, out: mp.Queue) -> None:  # type: ignore[type-arg]
    app, noop = make_app(dsn)
    with app, psycopg.connect(dsn, autocommit=True) as conn:
        def one(i: int) -> None:
            if bare:  # the baseline: the same row by hand, no pgqueue code
                conn.execute(BARE_INSERT, (f"[{i}]",))
            else:
                noop.enqueue(i)

        for i in range(200):  # warm-up: pool, prepared statements
            one(i)
        while time.time() < start_at:
            time.sleep(0.001)
        count, deadline = 0, start_at + seconds
        while time.time() < deadline:
            one(count)
            count += 1
        out.put((count, time.time() - start_at))


def single(dsn: str, producers: int, seconds: float, bare: bool = False) -> float:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 3.0 + producers * 0.5  # after every process has warmed up
    procs = [
        ctx.Process(target=_producer, args=(dsn, seconds, start_at, bare, out))
        for _ in range(producers)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    return sum(c for c, _ in results) / max(w for _, w in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", required=True, help="admin DSN; a scratch database is made")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    name = f"pgq_bench_enq_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = _db(args.dsn, name)
    try:
        _migrate.upgrade(dsn)
        rates = bulk(dsn, args.jobs, args.runs)
        print(f"bulk enqueue_many of {args.jobs:,} jobs: median {statistics.median(rates):,.0f} jobs/s, "
              f"best {max(rates):,.0f}, runs {', '.join(f'{r:,.0f}' for r in rates)}")
        for producers in (1, 8):
            for bare in (True, False):
                with psycopg.connect(dsn, autocommit=True) as c:
                    c.execute("TRUNCATE pgqueue.jobs CASCADE")
                rate = single(dsn, producers, args.seconds, bare)
                what = "bare INSERT + commit (baseline)" if bare else "task.enqueue()"
                print(f"single, {producers} producer(s), {what}: {rate:,.0f} jobs/s")
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
