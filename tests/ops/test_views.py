"""The inspection views: pgqueue.queue_stats, running_jobs, dead_jobs, workers_status."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from .support import seed


def _one(conn: psycopg.Connection[Any], sql: str) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(sql).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row


def test_running_jobs_and_workers_status_join_the_worker(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "expires_at) VALUES ('00000000-0000-0000-0000-0000000000aa', 'box', 42, '{default}', "
        "2, '0', now() + interval '1 minute')"
    )
    (job,) = seed(conn, state="running", worker_id="00000000-0000-0000-0000-0000000000aa")
    running = _one(conn, "SELECT * FROM pgqueue.running_jobs")
    assert (running["id"], running["hostname"], running["pid"]) == (job, "box", 42)
    conn.execute("UPDATE pgqueue.jobs SET started_at = now() - interval '90 seconds' WHERE id = %s", (job,))
    assert 89 <= _one(conn, "SELECT * FROM pgqueue.running_jobs")["runtime"].total_seconds() < 600
    assert running["lease_expired"] is False
    worker = _one(conn, "SELECT * FROM pgqueue.workers_status")
    assert (worker["status"], worker["running"]) == ("alive", 1)


def test_dead_jobs_shows_the_last_error(conn: psycopg.Connection[Any]) -> None:
    (job,) = seed(conn, state="dead", last_error="ValueError: boom", errors="[{}, {}]")
    seed(conn, state="succeeded")
    dead = conn.cursor(row_factory=dict_row).execute("SELECT * FROM pgqueue.dead_jobs").fetchall()
    assert [(d["id"], d["last_error"], d["error_count"]) for d in dead] == [(job, "ValueError: boom", 2)]


def test_queue_stats_estimates_succeeded_on_a_large_table(conn: psycopg.Connection[Any]) -> None:
    # ~150k finished rows (well over the 1000-page exact threshold): succeeded becomes
    # a block-sample estimate; live and dead counts stay exact.
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, finished_at) "
        "SELECT 'big', 't', 'succeeded', now() FROM generate_series(1, 150000)"
    )
    seed(conn, queue="big", state="dead", count=7)
    seed(conn, queue="big", count=3)
    stats = _one(conn, "SELECT * FROM pgqueue.queue_stats WHERE queue = 'big'")
    assert stats["succeeded_estimated"] is True
    assert 0.7 * 150000 <= stats["succeeded"] <= 1.3 * 150000
    assert (stats["dead"], stats["queued"]) == (7, 3)
