"""`pgqueue queues ls|pause|resume|set` as subprocesses, and `app.queues` in Python."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue.errors import InvalidName, InvalidOption

from .support import cli, cli_json, seed


def _queue_row(conn: psycopg.Connection[Any], name: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT paused, concurrency_limit, rate_limit, rate_period_s FROM pgqueue.queues WHERE name = %s",
        (name,),
    ).fetchone()


def test_queues_ls_shows_depth_counts_pause_and_limits(conn: psycopg.Connection[Any], dsn: str) -> None:
    seed(conn, queue="emails", count=2)
    seed(conn, queue="emails", run_at="2001-01-01T00:00:00Z")  # due for 25 years: the oldest
    seed(conn, queue="emails", state="running")
    seed(conn, queue="emails", state="dead", count=2)
    seed(conn, queue="emails", state="succeeded", count=4)
    seed(conn, queue="emails", run_at="2099-01-01T00:00:00Z")
    conn.execute("INSERT INTO pgqueue.queues (name, paused, concurrency_limit) VALUES ('idle', true, 3)")
    rows = {r["queue"]: r for r in cli_json(dsn, "queues", "ls")}
    emails = rows["emails"]
    assert (emails["queued"], emails["scheduled"], emails["running"]) == (3, 1, 1)
    assert (emails["dead"], emails["succeeded"], emails["succeeded_estimated"]) == (2, 4, False)
    assert emails["oldest_queued_age_s"] > 25 * 365 * 86400 and emails["paused"] is False
    assert rows["idle"]["paused"] is True and rows["idle"]["concurrency_limit"] == 3
    assert rows["idle"]["queued"] == 0

    table = cli(dsn, "queues", "ls")
    assert table.returncode == 0 and "emails" in table.stdout and "idle" in table.stdout


def test_queues_pause_and_resume_reach_workers(conn: psycopg.Connection[Any], dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN pgqueue_control")
        listener.execute("LISTEN pgqueue_jobs")
        paused = cli(dsn, "queues", "pause", "emails")
        assert paused.returncode == 0, paused.stderr
        assert _queue_row(conn, "emails") == (True, None, None, None)
        resumed = cli(dsn, "queues", "resume", "emails")
        assert resumed.returncode == 0, resumed.stderr
        got = [(n.channel, n.payload) for n in listener.notifies(timeout=5, stop_after=3)]
    assert _queue_row(conn, "emails") == (False, None, None, None)
    assert [(c, json.loads(p)) for c, p in got if c == "pgqueue_control"] == [
        ("pgqueue_control", {"action": "pause", "queue": "emails"}),
        ("pgqueue_control", {"action": "resume", "queue": "emails"}),
    ]
    assert ("pgqueue_jobs", "emails") in got  # idle workers woken on resume

    bad = cli(dsn, "queues", "pause", "no spaces")
    assert bad.returncode == 2 and "may only contain" in bad.stderr


def test_queues_set_limits(conn: psycopg.Connection[Any], dsn: str) -> None:
    out = cli_json(dsn, "queues", "set", "emails", "--concurrency", "2", "--rate", "10/s")
    assert out["concurrency_limit"] == 2 and (out["rate_limit"], out["rate_period_s"]) == (10, 1.0)
    cli_json(dsn, "queues", "set", "emails", "--rate", "600/m")
    assert _queue_row(conn, "emails") == (False, 2, 600, 60.0)
    cli_json(dsn, "queues", "set", "emails", "--concurrency", "none")
    assert _queue_row(conn, "emails") == (False, None, 600, 60.0)
    cli_json(dsn, "queues", "set", "emails", "--rate", "none")
    assert _queue_row(conn, "emails") == (False, None, None, None)

    for args in (["--rate", "10/fortnight"], ["--concurrency", "0"], ["--concurrency", "x"], []):
        result = cli(dsn, "queues", "set", "emails", *args)
        assert result.returncode == 2, (args, result.stderr)


def test_app_queues_python_api(conn: psycopg.Connection[Any], app: pgqueue.App) -> None:
    seed(conn, queue="reports", count=2)
    app.queues.pause("reports")
    assert app.queues.get("reports")["paused"] is True  # type: ignore[index]
    app.queues.resume("reports")
    row = app.queues.set_limits("reports", concurrency=4, rate=(5, 60.0))
    assert (row["concurrency_limit"], row["rate_limit"], row["rate_period_s"]) == (4, 5, 60.0)
    row = app.queues.set_limits("reports", rate=None)
    assert (row["concurrency_limit"], row["rate_limit"]) == (4, None)
    assert app.queues.get("nothing-here") is None
    with pytest.raises(InvalidOption):
        app.queues.set_limits("reports", concurrency=0)
    with pytest.raises(InvalidName):
        app.queues.pause("")
