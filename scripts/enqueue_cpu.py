"""CPU per single enqueue, client and server, from one producer: figures that move far
less with the box's load than jobs/s do.

    .venv/bin/python scripts/enqueue_cpu.py --dsn postgresql://postgres@127.0.0.1:5432/postgres

A scratch database (created on the server of --dsn, migrated, dropped). One process
calls ``task.enqueue()`` N times on pgqueue's own pool (one connection); the client's CPU
is ``time.process_time()``, the server's is the utime + stime of that connection's backend
process read from /proc (so the server must run on this machine). Printed per
``wake_window_ms`` given (default: 20, the default, and 0, one NOTIFY per enqueue).
"""

from __future__ import annotations

import argparse
import os
import time

import pgqueue
from pgqueue._bench.db import Scratch
from pgqueue._bench.tasks import register

WARMUP = 300


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def measure(dsn: str, calls: int, window_ms: int) -> str:
    app = register(pgqueue.App(dsn=dsn, pool_min_size=1, pool_max_size=1, wake_window_ms=window_ms))
    noop = app.tasks["bench.noop"]
    with app:
        for _ in range(WARMUP):
            noop.enqueue()
        with app.pool.connection() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        backend = int(row[0])
        hz = os.sysconf("SC_CLK_TCK")
        server0, wall0, client0 = _cpu_ticks(backend), time.perf_counter(), time.process_time()
        for _ in range(calls):
            noop.enqueue()
        wall = time.perf_counter() - wall0
        client = time.process_time() - client0
        server = (_cpu_ticks(backend) - server0) / hz
    return (
        f"wake_window_ms={window_ms}: {calls / wall:,.0f} calls/s; "
        f"per call: wall {wall / calls * 1e6:.0f} us, "
        f"client CPU {client / calls * 1e6:.0f} us, server CPU {server / calls * 1e6:.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("PGQUEUE_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--window", type=int, action="append", help="wake_window_ms (repeatable)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    with Scratch(args.dsn) as dsn:
        for window in args.window or [20, 0]:
            print(measure(dsn, args.calls, window))


if __name__ == "__main__":
    main()
