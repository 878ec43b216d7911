"""Limits enforced in the database, proven with several `pgqueue work` processes.

Each execution logs its start and end (database clock) from inside the task, so the
logged intervals lie within the jobs' running time in the database: overlaps found in
the log are real overlaps.
"""

from __future__ import annotations

import subprocess
import sys

import psycopg

import pgqueue
from tests.helpers import wait_for
from tests.limits.conftest import APP
from tests.worker.conftest import Workers

# Executions (exec_log rows) running at the moment each one started, itself included.
MAX_OVERLAP = """
SELECT coalesce(max(n), 0) FROM (
    SELECT (SELECT count(*) FROM exec_log o JOIN pgqueue.jobs oj ON oj.id = o.job_id
            WHERE oj.queue = %(queue)s
              AND o.started_at <= e.started_at
              AND (o.finished_at IS NULL OR o.finished_at > e.started_at)) AS n
    FROM exec_log e JOIN pgqueue.jobs j ON j.id = e.job_id
    WHERE j.queue = %(queue)s AND j.started_at > %(since)s
) AS per_start
"""


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def insert(
    conn: psycopg.Connection, queue: str, count: int, seconds: float, serial: str | None = None
) -> None:
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, serial_key) "
        "SELECT %s, 'l.sleep', jsonb_build_array(%s::float8), %s FROM generate_series(1, %s)",
        (queue, seconds, serial, count),
    )


def succeeded(conn: psycopg.Connection, queue: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE queue = %s AND state = 'succeeded'", (queue,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def db_now(conn: psycopg.Connection) -> object:
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def test_concurrency_limit_two_across_three_processes(exec_log: psycopg.Connection, workers: Workers) -> None:
    conn = exec_log
    done = cli(workers.dsn, "queues", "set", "limited", "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    insert(conn, "limited", 24, 0.15)
    # One slot each: without the limit three jobs would run at once; with it, the
    # processes must share two (a process re-claims at once when its own job ends).
    for _ in range(3):
        workers.start("-q", "limited", "--concurrency", "1", app=APP)
    wait_for(lambda: succeeded(conn, "limited") == 24, timeout=120, interval=0.2)

    overlap = conn.execute(MAX_OVERLAP, {"queue": "limited", "since": "-infinity"}).fetchone()
    assert overlap == (2,), overlap  # never more than 2, and the limit was used
    pids = conn.execute("SELECT count(DISTINCT pid) FROM exec_log").fetchone()
    assert pids is not None and pids[0] >= 2, "the work was shared by several processes"


def test_rate_limit_ten_per_second_over_five_seconds(exec_log: psycopg.Connection, workers: Workers) -> None:
    conn = exec_log
    done = cli(workers.dsn, "queues", "set", "rated", "--rate", "10/s")
    assert done.returncode == 0, done.stderr
    insert(conn, "rated", 70, 0.0)
    for _ in range(3):
        workers.start("-q", "rated", "--concurrency", "5", app=APP)
    wait_for(lambda: succeeded(conn, "rated") == 70, timeout=120, interval=0.2)

    # Exact: no window of one second holds more than 10 starts (started_at is the
    # limiter's own clock reading).
    busiest = conn.execute(
        "SELECT max((SELECT count(*) FROM pgqueue.jobs o WHERE o.queue = 'rated' "
        "AND o.started_at >= j.started_at AND o.started_at < j.started_at + interval '1 second')) "
        "FROM pgqueue.jobs j WHERE j.queue = 'rated'"
    ).fetchone()
    assert busiest == (10,), busiest
    # Over the first 5 s the rate held within tolerance: at most 50 starts, and the
    # limiter let close to that through (it is a limit, not a brake).
    first5 = conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE queue = 'rated' AND started_at < "
        "(SELECT min(started_at) FROM pgqueue.jobs WHERE queue = 'rated') + interval '5 seconds'"
    ).fetchone()
    assert first5 is not None and 40 <= first5[0] <= 50, first5


def test_serial_keys_never_overlap_and_keep_enqueue_order(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    for _ in range(8):  # interleaved ids across three keys, plus unkeyed jobs
        for key in ("customer:1", "customer:2", "customer:3", None):
            insert(conn, "serial", 1, 0.05, key)
    for _ in range(3):
        workers.start("-q", "serial", "--concurrency", "4", app=APP)
    wait_for(lambda: succeeded(conn, "serial") == 32, timeout=120, interval=0.2)

    overlaps = conn.execute(
        "SELECT count(*) FROM exec_log a JOIN pgqueue.jobs ja ON ja.id = a.job_id "
        "JOIN exec_log b ON b.id <> a.id JOIN pgqueue.jobs jb ON jb.id = b.job_id "
        "WHERE ja.serial_key = jb.serial_key "
        "AND a.started_at < b.finished_at AND b.started_at < a.finished_at"
    ).fetchone()
    assert overlaps == (0,)
    out_of_order = conn.execute(
        "SELECT count(*) FROM (SELECT j.serial_key, e.started_at, "
        "lag(e.started_at) OVER (PARTITION BY j.serial_key ORDER BY j.id) AS before "
        "FROM exec_log e JOIN pgqueue.jobs j ON j.id = e.job_id WHERE j.serial_key IS NOT NULL) s "
        "WHERE s.started_at < s.before"
    ).fetchone()
    assert out_of_order == (0,)
    # Different keys did run side by side: serial is per key, not per queue.
    parallel = conn.execute(MAX_OVERLAP, {"queue": "serial", "since": "-infinity"}).fetchone()
    assert parallel is not None and parallel[0] >= 2


def test_limits_changed_at_runtime_apply_without_restart(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    insert(conn, "dyn", 40, 0.3)
    for _ in range(2):
        workers.start("-q", "dyn", "--concurrency", "3", app=APP)
    wait_for(lambda: succeeded(conn, "dyn") >= 3, timeout=60, interval=0.05)

    # The Python twin of `pgqueue queues set dyn --concurrency 1` (instant, where the
    # CLI's interpreter start-up would let the backlog drain first); the CLI clears it.
    with pgqueue.App(dsn=workers.dsn) as app:
        app.queues.set_limits("dyn", concurrency=1)
    since = db_now(conn)
    wait_for(lambda: succeeded(conn, "dyn") >= 20, timeout=120, interval=0.1)
    # Every job started after the change ran alone (those started before may finish).
    started_after = conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE queue = 'dyn' AND started_at > %s", (since,)
    ).fetchone()
    assert started_after is not None and started_after[0] >= 5
    alone = conn.execute(
        "SELECT count(*) FROM exec_log a JOIN pgqueue.jobs ja ON ja.id = a.job_id "
        "JOIN exec_log b ON b.id <> a.id "
        "WHERE ja.started_at > %s AND b.started_at < coalesce(a.finished_at, 'infinity') "
        "AND a.started_at < coalesce(b.finished_at, 'infinity')",
        (since,),
    ).fetchone()
    assert alone == (0,)

    done = cli(workers.dsn, "queues", "set", "dyn", "--concurrency", "none")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: succeeded(conn, "dyn") == 40, timeout=120, interval=0.1)
