"""How the wake-up NOTIFY limits single-row enqueue commits (raw SQL, no pgqueue code path).

Creates a scratch database next to --dsn, migrates it, and times 1 and 8 producers
inserting one job per autocommit transaction in four modes:
  trigger     the shipped per-statement NOTIFY trigger (one NOTIFY per transaction);
  none        the trigger disabled (no wake-up at all: the ceiling);
  split       trigger disabled, NOTIFY in a second pipelined transaction with
              synchronous_commit off;
  split_sync  the same with synchronous commit.
Usage: python scripts/bench_notify.py [--dsn ADMIN_DSN] [--per-producer N]
"""

from __future__ import annotations

import argparse
import threading
import time

import psycopg
from psycopg import sql

from pgqueue import _migrate

INSERT = "INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', 'q') RETURNING id"
NOTIFY_ASYNC = "SELECT set_config('synchronous_commit', 'off', true), pg_notify('pgqueue_jobs', 'q')"
NOTIFY_SYNC = "SELECT pg_notify('pgqueue_jobs', 'q')"
SCRATCH = "pgq_bench_notify"


def run(dsn: str, mode: str, producers: int, per_producer: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        action = "ENABLE" if mode == "trigger" else "DISABLE"
        conn.execute(sql.SQL("ALTER TABLE pgqueue.jobs {} TRIGGER jobs_notify").format(sql.SQL(action)))
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(producers)]

    def work(conn: psycopg.Connection) -> None:
        for _ in range(per_producer):
            if mode.startswith("split"):
                with conn.pipeline():
                    conn.execute(INSERT)
                    conn.execute(NOTIFY_ASYNC if mode == "split" else NOTIFY_SYNC)
            else:
                conn.execute(INSERT)

    threads = [threading.Thread(target=work, args=(c,)) for c in conns]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return producers * per_producer / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--per-producer", type=int, default=1500)
    opts = parser.parse_args()
    with psycopg.connect(opts.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SCRATCH)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH)))
    info = psycopg.conninfo.conninfo_to_dict(opts.dsn)
    info["dbname"] = SCRATCH
    dsn = psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    try:
        _migrate.upgrade(dsn)
        for producers in (1, 8):
            for mode in ("trigger", "none", "split", "split_sync"):
                rate = run(dsn, mode, producers, opts.per_producer)
                print(f"{mode:10s} producers={producers}: {rate:8,.0f} commits/s")
    finally:
        with psycopg.connect(opts.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SCRATCH)))


if __name__ == "__main__":
    main()
