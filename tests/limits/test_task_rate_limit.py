"""Per-task rate limits (``@app.task(rate_limit="10/s")``) hold across worker processes,
and leave the other tasks of the same queue alone."""

from __future__ import annotations

import psycopg

from tests.helpers import wait_for
from tests.limits.conftest import APP
from tests.worker.conftest import Workers

BUSIEST_SECOND = """
SELECT max((SELECT count(*) FROM pgqueue.jobs o WHERE o.task = 'l.rated'
            AND o.started_at >= j.started_at AND o.started_at < j.started_at + interval '1 second'))
FROM pgqueue.jobs j WHERE j.task = 'l.rated'
"""


def _done(conn: psycopg.Connection, task: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE task = %s AND state = 'succeeded'", (task,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_task_rate_limit_holds_across_two_worker_processes(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    # Each job of the task holds its slot for 1 s and each process has 6 slots, so neither
    # process alone can start 10 in a second: reaching the limit takes both, whichever of
    # them is quicker to each claim (a busy box once let one process take every job).
    for _ in range(2):
        workers.start("-q", "mixed", "--concurrency", "6", app=APP)
    workers.wait_registered(2)
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args) SELECT 'mixed', t, a FROM"
        " (SELECT 'l.rated' AS t, '[1.0]'::jsonb AS a UNION ALL"
        "  SELECT 'l.sleep', '[0.0]'::jsonb) AS k, generate_series(1, 35)"
    )
    wait_for(lambda: _done(conn, "l.rated") == 35 and _done(conn, "l.sleep") == 35, timeout=120, interval=0.2)
    # Exact: no window of one second holds more than 10 starts of the task (started_at is
    # the limiter's own clock reading), and the limit was used, not merely respected.
    assert conn.execute(BUSIEST_SECOND).fetchone() == (10,)
    pids = conn.execute(
        "SELECT count(DISTINCT e.pid) FROM exec_log e JOIN pgqueue.jobs j ON j.id = e.job_id"
        " WHERE j.task = 'l.rated'"
    ).fetchone()
    assert pids is not None and pids[0] == 2, "both processes started jobs of the task"
    log = conn.execute("SELECT count(*) FROM pgqueue.task_starts WHERE task = 'l.rated'").fetchone()
    assert log is not None and log[0] <= 10  # the start log keeps one period, no more
