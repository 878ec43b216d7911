"""`pgqueue demo` runs to its summary on a real database, in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import psycopg


def test_demo_runs_to_its_summary(dsn: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, "demo", "--jobs", "40"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary" in result.stdout
    assert "SELECT * FROM pgqueue.queue_stats" in result.stdout
    with psycopg.connect(dsn) as conn:
        states = dict(conn.execute(
            "SELECT state, count(*) FROM pgqueue.jobs WHERE 'pgqueue-demo' = ANY(tags) GROUP BY 1"
        ).fetchall())
        retried = conn.execute(
            "SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded' AND jsonb_array_length(errors) > 0"
        ).fetchone()
        results = conn.execute(
            "SELECT count(*) FROM pgqueue.jobs WHERE task = 'demo.build_report' AND result ? 'rows'"
        ).fetchone()
    assert set(states) == {"succeeded", "dead"}
    assert states["dead"] == 3
    assert retried is not None and retried[0] > 0
    assert results is not None and results[0] > 0

    # A second run replaces the first run's demo jobs instead of piling up.
    again = subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, "demo", "--jobs", "40"],
        capture_output=True, text=True, timeout=120,
    )
    assert again.returncode == 0, again.stderr
    with psycopg.connect(dsn) as conn:
        total = conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone()
    assert total is not None and total[0] == sum(states.values())
