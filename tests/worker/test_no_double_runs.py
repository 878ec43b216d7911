"""Issue 16, thread mode: no attempt of a job starts while an earlier one may still run.

Each scenario runs the trial task of the issue (a sync body that never looks at
``ctx.cancelled`` and marks its exec_log row alive every 20 ms) and checks in SQL that no
two executions of one job overlap, and the exact attempt counts.
"""

from __future__ import annotations

import os
import signal
import time
from types import ModuleType

import psycopg
import pytest

import pgqueue
from tests.helpers import wait_for
from tests.worker.conftest import Workers

OVERLAPS = """
SELECT count(*) FROM exec_log a JOIN exec_log b
  ON a.job_id = b.job_id AND a.id < b.id
 AND tstzrange(a.started_at, a.finished_at, '[]') && tstzrange(b.started_at, b.finished_at, '[]')
"""


def enqueue(conn: psycopg.Connection, task: str, seconds: float) -> int:
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, args, max_attempts) VALUES (%s, jsonb_build_array(%s::float8), 3) "
        "RETURNING id",
        (task, seconds),
    ).fetchone()
    assert row is not None
    return int(row[0])


def job(conn: psycopg.Connection, job_id: int) -> tuple[str, int, list[dict[str, object]]]:
    row = conn.execute("SELECT state, attempt, errors FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def runs(conn: psycopg.Connection, job_id: int) -> list[tuple[int, int]]:
    """(attempt, pid) of each execution, in start order."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT attempt, pid FROM exec_log WHERE job_id = %s ORDER BY started_at", (job_id,)
        ).fetchall()
    ]


def overlaps(conn: psycopg.Connection) -> int:
    row = conn.execute(OVERLAPS).fetchone()
    assert row is not None
    return int(row[0])


def test_a_timed_out_sync_attempt_keeps_its_lease_until_its_thread_returns(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    """timeout=1 s, a 2.5 s body, three attempts, two worker processes: the attempts run
    one after the other, each failed with its TimeoutError once its thread returned."""
    conn = exec_log
    for _ in range(2):
        workers.start("--concurrency", "2")
    workers.wait_registered(2)
    job_id = enqueue(conn, "t.stubborn_timeout", 2.5)
    wait_for(lambda: job(conn, job_id)[0] == "dead", timeout=90, interval=0.1)

    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("dead", 3)
    assert [e["type"] for e in errors] == ["TimeoutError"] * 3
    assert [a for a, _ in runs(conn, job_id)] == [1, 2, 3]
    assert overlaps(conn) == 0
    # Each execution ran its whole body (nobody started the next attempt meanwhile).
    short = conn.execute(
        "SELECT count(*) FROM exec_log WHERE finished_at - started_at < interval '2.4 s'"
    ).fetchone()
    assert short == (0,)


def test_embedded_stop_waits_for_a_thread_it_cannot_stop_then_hands_back(
    task_app: ModuleType, exec_log: psycopg.Connection, workers: Workers
) -> None:
    """The issue's trial: an embedded Worker's stop(timeout) in a process that keeps
    running, and another worker idle on the queue. The job is handed back (attempt
    refunded) only once its thread has returned; the other worker runs it after."""
    conn = exec_log
    # The other worker is up before the job exists, but frozen (SIGSTOP) until the first
    # one runs it: however slow the machine, stop() below comes while the 3 s body runs.
    other = workers.start("--concurrency", "2")
    workers.wait_registered(1)
    os.kill(other.pid, signal.SIGSTOP)
    first = pgqueue.Worker(task_app.app, concurrency=2)
    first.start()
    job_id = enqueue(conn, "t.stubborn", 3.0)
    wait_for(lambda: runs(conn, job_id), timeout=30)
    os.kill(other.pid, signal.SIGCONT)

    first.stop(timeout=0.5)
    # stop() returned only after the thread did: the body's whole 3 s are logged already
    # (checked on the database clock, not by how long stop() took, which depends on how
    # much of the body was left when it was called).
    alive = conn.execute(
        "SELECT finished_at - started_at FROM exec_log WHERE job_id = %s ORDER BY id LIMIT 1", (job_id,)
    ).fetchone()
    assert alive is not None and alive[0].total_seconds() >= 2.9

    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=60, interval=0.1)
    state, attempt, errors = job(conn, job_id)
    assert (state, attempt, errors) == ("succeeded", 1, [])
    assert [a for a, _ in runs(conn, job_id)] == [1, 1]
    assert overlaps(conn) == 0


def test_cli_shutdown_hands_on_a_stuck_sync_job_once_its_process_has_exited(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    """`pgqueue work --processes 2 --shutdown-timeout 1` with a 6 s sync job and a second
    worker idle: the job is not handed back while its thread runs; the child exits (which
    ends the thread) and the supervisor hands it on at once, attempt refunded."""
    conn = exec_log
    sup = workers.start("--processes", "2", "--concurrency", "1", "--shutdown-timeout", "1", "--lease", "60",
                        "--heartbeat-interval", "3")  # fmt: skip
    workers.wait_registered(2)
    job_id = enqueue(conn, "t.stubborn", 6.0)
    wait_for(lambda: runs(conn, job_id), timeout=30)
    workers.start("--concurrency", "2")
    workers.wait_registered(3)

    sup.send_signal(signal.SIGTERM)
    assert sup.wait(timeout=60) == 0
    # Handed on by the supervisor (not by the rescue: the lease is 60 s), attempt refunded.
    wait_for(lambda: len(runs(conn, job_id)) == 2, timeout=20, interval=0.05)
    assert [a for a, _ in runs(conn, job_id)] == [1, 1]
    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=60, interval=0.1)
    assert job(conn, job_id)[:2] == ("succeeded", 1)
    assert overlaps(conn) == 0


@pytest.mark.chaos
def test_supervisor_hands_on_a_sigkilled_childs_job_at_once(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    """A child SIGKILLed mid-job: its job runs again (attempt 2, a WorkerLost error) within
    a few seconds, not after its 60 s lease."""
    conn = exec_log
    sup = workers.start("--processes", "2", "--concurrency", "1", "--lease", "60")
    workers.wait_registered(2)
    job_id = enqueue(conn, "t.stubborn", 4.0)
    [(_, pid)] = wait_for(lambda: runs(conn, job_id), timeout=30)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(runs(conn, job_id)) == 2, timeout=20, interval=0.05)
    assert time.monotonic() - killed < 10.0  # generous: the lease would take 60 s
    assert [a for a, _ in runs(conn, job_id)] == [1, 2]
    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=60, interval=0.1)
    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("succeeded", 2)
    assert [e["type"] for e in errors] == ["pgqueue.WorkerLost"]
    assert "SIGKILL" in str(errors[0]["message"])
    assert overlaps(conn) == 0
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(timeout=60) == 0
