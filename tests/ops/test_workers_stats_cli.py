"""`pgqueue workers ls` and `pgqueue stats` as subprocesses."""

from __future__ import annotations

from typing import Any

import psycopg

from .support import cli, cli_json, seed


def _worker(conn: psycopg.Connection[Any], host: str, pid: int, expires: str) -> str:
    row = conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "expires_at) VALUES (gen_random_uuid(), %s, %s, '{default}', 4, '0.1.0', "
        "now() + %s::interval) RETURNING id::text",
        (host, pid, expires),
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_workers_ls_shows_alive_and_stale(conn: psycopg.Connection[Any], dsn: str) -> None:
    alive = _worker(conn, "web-1", 101, "30 seconds")
    stale = _worker(conn, "web-2", 202, "-5 minutes")
    conn.execute(
        "UPDATE pgqueue.workers SET heartbeat_at = now() - interval '5 minutes' WHERE id = %s", (stale,)
    )
    (job,) = seed(conn, state="running")
    conn.execute("UPDATE pgqueue.jobs SET worker_id = %s WHERE id = %s", (alive, job))

    rows = {r["id"]: r for r in cli_json(dsn, "workers", "ls")}
    assert rows[alive]["status"] == "alive" and rows[alive]["running"] == 1
    assert rows[alive]["hostname"] == "web-1" and rows[alive]["pid"] == 101
    assert rows[stale]["status"] == "stale" and rows[stale]["running"] == 0
    assert 290 <= rows[stale]["heartbeat_age_s"] < 900  # its last beat was 5 minutes ago

    table = cli(dsn, "workers", "ls")
    assert table.returncode == 0 and "web-2" in table.stdout and "stale" in table.stdout


def test_stats_throughput_failure_rate_and_depth(conn: psycopg.Connection[Any], dsn: str) -> None:
    seed(conn, state="succeeded", queue="a", finished_ago="1 minute", count=8)
    seed(conn, state="dead", queue="a", finished_ago="2 minutes", count=2)
    seed(conn, state="succeeded", queue="a", finished_ago="1 hour", count=50)  # outside
    seed(conn, state="queued", queue="b", count=3)

    data = cli_json(dsn, "stats", "--minutes", "5")
    assert (data["succeeded_window"], data["dead_window"]) == (8, 2)
    assert data["failure_rate"] == 0.2
    assert data["throughput_per_s"] == round(10 / 300, 3)
    queues = {q["queue"]: q for q in data["queues"]}
    assert queues["a"]["failure_rate"] == 0.2 and queues["a"]["succeeded"] == 58
    assert queues["b"]["queued"] == 3 and queues["b"]["failure_rate"] is None

    table = cli(dsn, "stats")
    assert table.returncode == 0 and "failure rate 20.0%" in table.stdout
    assert cli(dsn, "stats", "--minutes", "0").returncode == 2
