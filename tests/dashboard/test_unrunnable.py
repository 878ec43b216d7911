"""The overview names queued jobs that no live worker can run (a rolling deploy half done),
as `pgqueue doctor` and the pgqueue_jobs_unrunnable gauge do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def test_the_overview_shows_jobs_no_live_worker_can_run(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    conn.execute(
        "INSERT INTO pgqueue.jobs (task, queue, created_at) SELECT 'rolling.added', 'rolling', "
        "now() - interval '1 hour' FROM generate_series(1, 3)"
    )
    conn.execute(  # young: not (yet) a finding
        "INSERT INTO pgqueue.jobs (task, queue) VALUES ('rolling.added', 'rolling')"
    )
    conn.execute(  # a live worker of the old release: it serves the queue, not the task
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, expires_at, meta) "
        "VALUES (gen_random_uuid(), 'h', 1, '{rolling}', 1, 'x', now() + interval '1 hour', "
        '\'{"tasks": ["rolling.known"]}\')'
    )
    data = client.get("/api/overview").json()
    assert [(r["queue"], r["task"], r["jobs"]) for r in data["unrunnable"]] == [
        ("rolling", "rolling.added", 3)
    ]
    assert {q["queue"]: q["unrunnable"] for q in data["queues"]} == {"rolling": 3}
    page = client.get("/").text
    assert "rolling.added on rolling (3)" in page and "3 unrunnable" in page

    # A worker that knows the task starts: nothing to show (once the 30 s cache expires).
    conn.execute('UPDATE pgqueue.workers SET meta = \'{"tasks": ["rolling.known", "rolling.added"]}\'')
    client.app.state.dashboard.overview._unrunnable_at = float("-inf")  # type: ignore[attr-defined]
    data = client.get("/api/overview").json()
    assert data["unrunnable"] == [] and data["queues"][0]["unrunnable"] == 0
    assert 'id="unrunnable"' not in client.get("/").text
