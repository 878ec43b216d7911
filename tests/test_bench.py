"""`pgqueue bench` end to end, smallest sizes: a scratch database is made and dropped, the
table is printed, the JSON holds every measured row. Speed is never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg


def _bench(pg_server: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "bench", "--dsn", pg_server, "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, COLUMNS="200"),
    )


def _bench_databases(pg_server: str) -> set[str]:
    with psycopg.connect(pg_server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pgqueue_bench_%'").fetchall()
    return {r[0] for r in rows}


def test_bench_quick_writes_table_and_json(pg_server: str, tmp_path: Path) -> None:
    before = _bench_databases(pg_server)
    out = tmp_path / "bench.json"
    proc = _bench(pg_server, "-s", "enqueue-bulk,ceiling,drain-backlog-growth", "--json-out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "enqueue-bulk" in proc.stdout and "ceiling" in proc.stdout
    data = json.loads(out.read_text())
    rows = {r["scenario"]: r for r in data["results"]}
    assert set(rows) == {"enqueue-bulk", "ceiling", "drain-backlog-growth"}
    growth = [r for r in data["results"] if r["scenario"] == "drain-backlog-growth"]
    assert [r["extra"]["backlog"] for r in growth] == [10_000, 100_000]
    assert all(r["extra"]["measured"] == 10_000 for r in growth)
    assert "ratio_to_smallest" in growth[1]["extra"]
    for row in rows.values():
        assert row["rate"] > 0
        assert row["counters"]["commits_per_job"] > 0 or row["scenario"] == "enqueue-bulk"  # one COPY
        assert row["counters"]["wal_bytes_per_job"] > 0
    assert _bench_databases(pg_server) == before  # the scratch database was dropped


def test_bench_rejects_unknown_scenario(pg_server: str) -> None:
    proc = _bench(pg_server, "-s", "nope")
    assert proc.returncode == 2
    assert "unknown scenario 'nope'" in proc.stderr


def test_bench_history_rollup_counts_every_seeded_job(pg_server: str, tmp_path: Path) -> None:
    out = tmp_path / "rollup.json"
    proc = _bench(pg_server, "-s", "history-rollup", "--json-out", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())["results"]
    assert row["scenario"] == "history-rollup"
    assert row["extra"]["seeded"] == 5_000 * 60
    assert row["extra"]["counted"] == row["extra"]["seeded"]  # the tick rolled up that minute, once
    assert row["latency_ms"]["samples"] == 3 and row["extra"]["core_share"] > 0
