"""Claim rows are decoded by column name: jobs as JobRow, limit markers as Marker, and a
column that is not a JobRow field fails loudly instead of shifting the others."""

from __future__ import annotations

import dataclasses
import uuid

import psycopg
import pytest

from pgqueue import App, JobState
from pgqueue._worker.claim_rows import Marker, claim_row
from pgqueue._worker.claims import Claimer, claim_job
from pgqueue.job import JobRow


def test_a_claimed_job_reads_its_columns_by_name(app: App, conn: psycopg.Connection) -> None:
    job = app.enqueue("t.x", args=(1, "[/etc/app]"), kwargs={"k": "v"}, queue="rows", priority=3)
    row = claim_job(conn, uuid.uuid4(), job.id, 30.0)
    assert isinstance(row, JobRow)
    assert (row.id, row.queue, row.task, row.priority) == (job.id, "rows", "t.x", 3)
    assert (row.args, row.kwargs) == ([1, "[/etc/app]"], {"k": "v"})
    assert (row.state, row.attempt) == (JobState.RUNNING, 1)
    assert claim_job(conn, uuid.uuid4(), job.id, 30.0) is None  # running: not claimable again


def test_a_limited_queue_comes_back_as_a_marker_with_its_wait(app: App, conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO pgqueue.queues (name, rate_limit, rate_period_s) VALUES ('capped', 1, 60)"
    )
    for _ in range(2):
        app.enqueue("t.x", queue="capped")
    claimer = Claimer(uuid.uuid4(), ["capped"], 30.0)
    first = claimer.claim(conn, 10)  # learns the limit from the fast claim, then claims within it
    assert [j.queue for j in first] == ["capped"]
    assert claimer.claim(conn, 10) == []
    assert claimer.throttled and claimer.retry_in is not None and 0 < claimer.retry_in <= 60


def test_a_column_that_is_not_a_job_field_is_an_error(conn: psycopg.Connection) -> None:
    cur = conn.cursor(row_factory=claim_row)
    with pytest.raises(TypeError, match=r"\['nope'\] are not fields of JobRow"):
        cur.execute("SELECT 1 AS id, 'q' AS nope").fetchall()
    marker = cur.execute(
        "SELECT NULL::bigint AS id, 'q' AS queue, now() + interval '2 seconds' AS run_at, now() AS started_at"
    ).fetchone()
    assert isinstance(marker, Marker) and marker.name == "q" and marker.wait_s == 2.0


def test_columns_in_another_order_build_the_same_row(app: App, conn: psycopg.Connection) -> None:
    job = app.enqueue("t.x", args=(7,), tags=["a"], queue="rows")
    claimed = claim_job(conn, uuid.uuid4(), job.id, 30.0)
    assert isinstance(claimed, JobRow)
    names = [f.name for f in dataclasses.fields(JobRow)][:18]  # what the claims return
    reversed_cols = ", ".join(reversed(names))
    row = conn.cursor(row_factory=claim_row).execute(
        f"SELECT {reversed_cols} FROM pgqueue.jobs WHERE id = %s", (job.id,)  # noqa: S608 - field names
    ).fetchone()
    assert row == claimed
