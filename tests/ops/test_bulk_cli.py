"""`pgqueue jobs enqueue`, bulk retry/cancel/delete by filter, `queues purge`, `jobs ls`
truncation and the `scheduled` state, against a real database."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue import _admin
from pgqueue.errors import InvalidOption

from .support import cli, cli_json, row, seed


def _states(conn: psycopg.Connection[Any]) -> dict[int, str]:
    return dict(conn.execute("SELECT id, state FROM pgqueue.jobs ORDER BY id").fetchall())


def test_enqueue_by_name_stores_what_python_would(conn: psycopg.Connection[Any], dsn: str) -> None:
    out = cli_json(dsn, "jobs", "enqueue", "mail.send", "--args", '[42, "x"]', "--kwargs", '{"a": [1]}',
                   "--queue", "mail", "--priority", "10", "--delay", "5m")  # fmt: skip
    r = row(conn, out["id"])
    stored = (r["task"], r["queue"], r["priority"], r["args"], r["kwargs"])
    assert stored == ("mail.send", "mail", 10, [42, "x"], {"a": [1]})
    assert timedelta(minutes=4) < r["run_at"] - r["created_at"] <= timedelta(minutes=5, seconds=5)
    assert out["queue"] == "mail" and out["state"] == "queued"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name!"], "may only contain"),
        (["t.x", "--args", "[1,"], "--args is not valid JSON"),
        (["t.x", "--kwargs", "[1]"], "--kwargs must be a JSON object"),
        (["t.x", "--priority", "99999"], "priority must be between"),
        (["t.x", "--queue", "no spaces"], "may only contain"),
        (["t.x", "--delay", "soon"], "duration 'soon' is not understood"),
    ],
)
def test_enqueue_refuses_what_python_refuses(dsn: str, conn: psycopg.Connection[Any], args: list[str],
                                             message: str) -> None:  # fmt: skip
    done = cli(dsn, "jobs", "enqueue", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (0,)


def test_enqueue_with_app_checks_the_signature(
    dsn: str, tmp_path: Path, conn: psycopg.Connection[Any]
) -> None:
    (tmp_path / "cli_enqueue_app.py").write_text(textwrap.dedent("""
        import pgqueue
        app = pgqueue.App()

        @app.task(name="greet", queue="hello", priority=3)
        def greet(who: str) -> str:
            return who
    """))
    import os
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(tmp_path)}
        return subprocess.run([sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, "jobs", "enqueue", *args,
                               "--app", "cli_enqueue_app:app"], capture_output=True, text=True, env=env,
                              timeout=60)  # fmt: skip

    ok = run("greet", "--args", '["ann"]')
    assert ok.returncode == 0, ok.stderr
    (queue, priority), = conn.execute("SELECT queue, priority FROM pgqueue.jobs").fetchall()
    assert (queue, priority) == ("hello", 3)  # the task's defaults
    wrong = run("greet", "--args", "[1, 2]")
    assert wrong.returncode == 2 and "greet" in wrong.stderr, wrong.stderr
    unknown = run("nobody")
    assert unknown.returncode == 2 and "not registered" in unknown.stderr


def test_jobs_ls_says_when_it_truncates_and_filters_scheduled(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    due = seed(conn, count=3, tags=["nightly"])
    (later,) = seed(conn, run_at="2999-01-01T00:00:00Z")
    shown = cli(dsn, "jobs", "ls", "--limit", "2")
    assert shown.returncode == 0
    assert "showing 2 of 4 jobs; use --limit N or --all for more" in shown.stderr
    assert len(cli_json(dsn, "jobs", "ls", "--all")) == 4
    assert "showing" not in cli(dsn, "jobs", "ls", "--limit", "4").stderr
    assert [r["id"] for r in cli_json(dsn, "jobs", "ls", "--state", "scheduled")] == [later]
    assert [r["id"] for r in cli_json(dsn, "jobs", "ls", "--tag", "nightly")] == sorted(due, reverse=True)


def test_bulk_cancel_retry_delete_by_filter(conn: psycopg.Connection[Any], dsn: str) -> None:
    queued = seed(conn, queue="a", count=3)
    (scheduled,) = seed(conn, queue="a", run_at="2999-01-01T00:00:00Z")
    (running,) = seed(conn, queue="a", state="running")
    (other,) = seed(conn, queue="b")
    old_dead = seed(conn, queue="a", state="dead", finished_ago="10 days", count=2)
    (new_dead,) = seed(conn, queue="a", state="dead")

    out = cli_json(dsn, "jobs", "cancel", "--queue", "a", "--state", "scheduled", "--yes")
    assert (out["matched"], out["done"]) == (1, 1) and _states(conn)[scheduled] == "cancelled"

    out = cli_json(dsn, "jobs", "cancel", "--queue", "a", "--yes")
    assert (out["done"], out["requested"]) == (3, 1)
    states = _states(conn)
    assert {states[i] for i in queued} == {"cancelled"} and states[other] == "queued"
    assert states[running] == "running" and row(conn, running)["cancel_requested_at"] is not None

    out = cli_json(dsn, "jobs", "retry", "--state", "dead", "--older-than", "7d", "--yes")
    assert out["done"] == 2
    states = _states(conn)
    assert {states[i] for i in old_dead} == {"queued"} and states[new_dead] == "dead"

    refused = cli(dsn, "jobs", "delete", "--state", "running", "--yes")
    assert refused.returncode == 2 and "cannot be deleted" in refused.stderr
    out = cli_json(dsn, "jobs", "delete", "--queue", "a", "--yes")
    assert out["done"] == 7  # 4 cancelled, 2 requeued, 1 dead; never the running one
    assert set(_states(conn)) == {running, other}


def test_delete_by_id_leaves_running_waiting_and_depended_on_jobs(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    (running,) = seed(conn, state="running")
    (parent,) = seed(conn)
    (child,) = seed(conn, state="waiting")
    conn.execute("INSERT INTO pgqueue.job_dependencies (job_id, depends_on) VALUES (%s, %s)", (child, parent))
    (done,) = seed(conn, state="succeeded")
    out = cli_json(dsn, "jobs", "delete", str(running), str(parent), str(child), str(done), "999999", code=1)
    assert out == {"deleted": [done], "skipped": sorted([running, parent, child, 999999])}


def test_queues_purge_cancels_or_deletes_pending_jobs_only(conn: psycopg.Connection[Any], dsn: str) -> None:
    pending = seed(conn, queue="q", count=2) + seed(conn, queue="q", state="waiting")
    (running,) = seed(conn, queue="q", state="running")
    (elsewhere,) = seed(conn, queue="r")
    unconfirmed = cli(dsn, "queues", "purge", "q")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    out = cli_json(dsn, "queues", "purge", "q", "--yes")
    assert (out["matched"], out["done"]) == (3, 3)
    states = _states(conn)
    assert {states[i] for i in pending} == {"cancelled"}
    assert (states[running], states[elsewhere]) == ("running", "queued")
    assert row(conn, running)["cancel_requested_at"] is None

    seed(conn, queue="q", count=2)
    assert cli_json(dsn, "queues", "purge", "q", "--delete", "--yes")["done"] == 2
    assert cli_json(dsn, "queues", "purge", "empty", "--yes")["matched"] == 0


def test_bulk_walks_in_batches_and_reports_progress(conn: psycopg.Connection[Any], dsn: str) -> None:
    seed(conn, state="dead", count=25)
    seen: list[int] = []
    with pgqueue.App(dsn=dsn) as app:
        where = _admin.JobFilter(state="dead")
        assert _admin.count_jobs(app, where) == 25
        result = _admin.run_bulk(app, "retry", where, batch_size=10, progress=seen.append)
        assert (result.done, result.skipped) == (25, 0)
        assert seen == [10, 10, 5]
        with pytest.raises(InvalidOption, match="cannot be cancelled"):
            _admin.run_bulk(app, "cancel", _admin.JobFilter(state="dead"))
        with pytest.raises(InvalidOption, match="not a job state"):
            _admin.JobFilter(state="exploded")


def test_stats_shows_rates_as_percentages(conn: psycopg.Connection[Any], dsn: str) -> None:
    seed(conn, state="succeeded", count=3)
    seed(conn, state="dead")
    done = cli(dsn, "stats")
    assert done.returncode == 0, done.stderr
    assert "failure rate 25.0%" in done.stdout and "25.0%" in done.stdout.split("per queue")[1]
    assert cli_json(dsn, "stats")["failure_rate"] == 0.25


def test_version() -> None:
    done = cli("unused", "--version")
    assert done.returncode == 0 and done.stdout == f"pgqueue {pgqueue.__version__}\n"
