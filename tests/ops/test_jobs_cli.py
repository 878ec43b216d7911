"""`pgqueue jobs ls|show|retry|cancel` as subprocesses against a real database."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg

from .support import cli, cli_json, row, seed

TRACEBACK = 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: boom'


def test_jobs_ls_filters_and_json(conn: psycopg.Connection[Any], dsn: str) -> None:
    dead_a = seed(conn, state="dead", queue="a", task="t.x", count=2, last_error="boom")
    seed(conn, state="dead", queue="b", task="t.x")
    seed(conn, state="queued", queue="a", task="t.x")
    seed(conn, state="succeeded", queue="a", task="t.y")

    rows = cli_json(dsn, "jobs", "ls", "--state", "dead", "--queue", "a")
    assert [r["id"] for r in rows] == sorted(dead_a, reverse=True)
    assert {r["state"] for r in rows} == {"dead"} and rows[0]["last_error"] == "boom"
    assert len(cli_json(dsn, "jobs", "ls", "--task", "t.x")) == 4
    assert len(cli_json(dsn, "jobs", "ls", "--limit", "2")) == 2

    table = cli(dsn, "jobs", "ls", "--queue", "a")
    assert table.returncode == 0, table.stderr
    assert str(dead_a[0]) in table.stdout and "t.y" in table.stdout

    bad = cli(dsn, "jobs", "ls", "--state", "exploded")
    assert bad.returncode == 2 and "not a job state" in bad.stderr


def test_jobs_show_prints_args_result_and_every_traceback(conn: psycopg.Connection[Any], dsn: str) -> None:
    errors = [
        {"at": "2026-01-01T00:00:00Z", "attempt": i, "type": "ValueError", "message": "boom",
         "traceback": TRACEBACK}
        for i in (1, 2)
    ]  # fmt: skip
    (job_id,) = seed(conn, state="dead", args=json.dumps([42, "x"]), errors=json.dumps(errors), attempt=2)
    shown = cli_json(dsn, "jobs", "show", str(job_id))
    assert shown["id"] == job_id and shown["args"] == [42, "x"] and shown["state"] == "dead"
    assert [e["traceback"] for e in shown["errors"]] == [TRACEBACK, TRACEBACK]
    # Timestamps in the one format every --json output uses (ISO 8601, as jobs ls gives them).
    listed = next(j for j in cli_json(dsn, "jobs", "ls", "--state", "dead") if j["id"] == job_id)
    assert shown["created_at"] == listed["created_at"]
    assert datetime.fromisoformat(shown["finished_at"]).tzinfo is not None

    human = cli(dsn, "jobs", "show", str(job_id))
    assert human.returncode == 0, human.stderr
    assert human.stdout.count("ValueError: boom") >= 2 and "error 2" in human.stdout

    missing = cli(dsn, "jobs", "show", "999999")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_jobs_retry_by_id_requeues_with_attempts_reset(conn: psycopg.Connection[Any], dsn: str) -> None:
    (dead,) = seed(conn, state="dead", attempt=5, errors='[{"message": "boom"}]')
    (cancelled,) = seed(conn, state="cancelled", attempt=1)
    (done,) = seed(conn, state="succeeded", attempt=1)

    out = cli_json(dsn, "jobs", "retry", str(dead), str(cancelled))
    assert out == {"requeued": [dead, cancelled], "skipped": []}
    for job_id in (dead, cancelled):
        r = row(conn, job_id)
        assert (r["state"], r["attempt"], r["finished_at"]) == ("queued", 0, None)
    assert row(conn, dead)["errors"] == [{"message": "boom"}]  # history kept

    refused = cli_json(dsn, "jobs", "retry", str(done), code=1)
    assert refused == {"requeued": [], "skipped": [done]}
    assert row(conn, done)["state"] == "succeeded"


def test_jobs_retry_in_bulk_by_state_queue_and_task(conn: psycopg.Connection[Any], dsn: str) -> None:
    wanted = seed(conn, state="dead", queue="a", task="t.x", count=3, attempt=5)
    other_task = seed(conn, state="dead", queue="a", task="t.y", attempt=5)
    other_queue = seed(conn, state="dead", queue="b", task="t.x", attempt=5)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN pgqueue_jobs")
        out = cli_json(dsn, "jobs", "retry", "--state", "dead", "--queue", "a", "--task", "t.x", "--yes")
        woken = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert (out["matched"], out["done"], out["skipped"]) == (3, 3, 0) and woken == ["a"]
    assert {row(conn, i)["state"] for i in wanted} == {"queued"}
    assert {row(conn, i)["state"] for i in other_task + other_queue} == {"dead"}

    unconfirmed = cli(dsn, "jobs", "retry", "--state", "dead")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert {row(conn, i)["state"] for i in other_task + other_queue} == {"dead"}
    assert cli_json(dsn, "jobs", "retry", "--state", "dead", "--yes")["done"] == 2
    usage = cli(dsn, "jobs", "retry", "--state", "queued", "--yes")
    assert usage.returncode == 2 and "cannot be retried" in usage.stderr
    assert cli(dsn, "jobs", "retry").returncode == 2


def test_jobs_retry_leaves_a_job_whose_unique_key_is_live(conn: psycopg.Connection[Any], dsn: str) -> None:
    (old,) = seed(conn, state="dead", unique_key="k1")
    seed(conn, state="queued", unique_key="k1")
    assert cli_json(dsn, "jobs", "retry", str(old), code=1)["skipped"] == [old]


def test_jobs_cancel_queued_now_and_running_through_the_control_channel(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    (queued,) = seed(conn, state="queued")
    (running,) = seed(conn, state="running")
    (done,) = seed(conn, state="succeeded")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN pgqueue_control")
        out = cli_json(dsn, "jobs", "cancel", str(queued), str(running), str(done))
        messages = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    assert out == {
        "cancelled": [queued],
        "requested": [running],
        "unchanged": {str(done): "succeeded"},
        "missing": [],
    }
    assert row(conn, queued)["state"] == "cancelled"
    assert row(conn, queued)["finished_at"] is not None
    r = row(conn, running)
    assert r["state"] == "running" and r["cancel_requested_at"] is not None
    assert messages == [{"action": "cancel", "job_id": running, "worker_id": str(r["worker_id"])}]

    missing = cli(dsn, "jobs", "cancel", "999999")
    assert missing.returncode == 1 and "999999" in missing.stderr


def test_job_handle_cancel_and_retry(conn: psycopg.Connection[Any], app: Any) -> None:
    (job_id,) = seed(conn, state="queued")
    job = app.job(job_id)
    assert job.cancel() is True and job.state == "cancelled"
    assert job.cancel() is False
    assert job.retry() is True and job.state == "queued" and job.row.attempt == 0
    assert job.retry() is False
    assert job.details()["id"] == job_id
