"""The worker's acceptance checks, each with real `pgqueue work` processes."""

from __future__ import annotations

import itertools
import os
import signal
import time

import psycopg
import pytest

import pgqueue
from tests.helpers import wait_for
from tests.worker.conftest import Workers, insert_jobs

LISTENER_SQL = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = 'pgqueue-listener'"
)


def states(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM pgqueue.jobs GROUP BY state").fetchall())


def listener_pids(conn: psycopg.Connection) -> set[int]:
    return {r[0] for r in conn.execute(LISTENER_SQL).fetchall()}


def enqueue(conn: psycopg.Connection, task: str, args: str = "[]") -> int:
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, args) VALUES (%s, %s::jsonb) RETURNING id", (task, args)
    ).fetchone()
    assert row is not None
    return int(row[0])


def job(conn: psycopg.Connection, job_id: int) -> dict[str, object]:
    cur = conn.execute("SELECT * FROM pgqueue.jobs WHERE id = %s", (job_id,))
    values = cur.fetchone()
    assert values is not None and cur.description is not None
    return dict(zip([c.name for c in cur.description], values, strict=True))


def stop(proc: object, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
    assert hasattr(proc, "send_signal") and hasattr(proc, "wait")
    proc.send_signal(sig)
    return int(proc.wait(timeout=timeout))


def test_5000_jobs_two_processes_exactly_once_in_priority_order(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    conn.execute("CREATE UNIQUE INDEX exec_log_once ON exec_log (job_id)")
    # Priorities spread over -10..10 in a scrambled order of ids.
    insert_jobs(conn, "t.record", "jsonb_build_array(g)", 5000, priority="(g * 7919) %% 21 - 10")
    sup = workers.start("--processes", "2", "--concurrency", "8")
    wait_for(lambda: states(conn).get("succeeded") == 5000, timeout=180, interval=0.2)

    assert conn.execute("SELECT count(*), count(DISTINCT job_id) FROM exec_log").fetchone() == (5000, 5000)
    assert conn.execute(
        "SELECT count(*) FROM pgqueue.jobs WHERE attempt <> 1 OR errors <> '[]' OR result IS NULL"
    ).fetchone() == (0,)
    # Two processes shared the work.
    per_worker = conn.execute("SELECT worker_id, count(*) FROM pgqueue.jobs GROUP BY worker_id").fetchall()
    assert len(per_worker) == 2, per_worker
    # Claim order per worker: every batch (one claim = one started_at) holds no higher
    # priority than any batch that worker claimed before it.
    batches = conn.execute(
        "SELECT worker_id, started_at, min(priority), max(priority) FROM pgqueue.jobs "
        "GROUP BY worker_id, started_at ORDER BY worker_id, started_at"
    ).fetchall()
    lowest: dict[object, int] = {}
    for worker_id, started, lo, hi in batches:
        if worker_id in lowest:
            assert hi <= lowest[worker_id], f"worker {worker_id} claimed priority {hi} at {started} late"
        lowest[worker_id] = min(lo, lowest.get(worker_id, lo))
    assert stop(sup) == 0
    assert conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (0,)


def test_job_is_claimed_only_after_commit_via_listen(exec_log: psycopg.Connection, workers: Workers) -> None:
    conn = exec_log
    proc = workers.start("--poll-interval", "60")
    workers.wait_registered(1)
    wait_for(lambda: listener_pids(conn))
    with psycopg.connect(workers.dsn) as tx:  # a transaction held open
        job_id = enqueue(tx, "t.add", "[1, 2]")
        held_until = time.monotonic() + 1.5
        while time.monotonic() < held_until:  # the worker cannot see it, let alone claim it
            assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (0,)
            time.sleep(0.1)
        tx.commit()
        row = tx.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        committed = row[0]
    wait_for(lambda: job(conn, job_id)["state"] == "succeeded", timeout=10)
    started = job(conn, job_id)["started_at"]
    assert started is not None
    assert (started - committed).total_seconds() < 1.0  # type: ignore[operator]
    assert pgqueue.App(dsn=workers.dsn).job(job_id).result(timeout=5) == 3
    assert stop(proc) == 0


def test_sigkill_worker_jobs_run_again_within_20s(exec_log: psycopg.Connection, workers: Workers) -> None:
    conn = exec_log
    victim = workers.start("--concurrency", "4")
    ids = [enqueue(conn, "t.slow_first", "[600]") for _ in range(4)]
    wait_for(lambda: conn.execute("SELECT count(*) FROM exec_log").fetchone() == (4,), timeout=30)
    survivor = workers.start("--concurrency", "4")
    wait_for(lambda: len(workers.registered()) == 2, timeout=30)
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
    victim.wait(timeout=10)

    wait_for(lambda: states(conn).get("succeeded") == 4, timeout=30, interval=0.1)
    for job_id in ids:
        row = job(conn, job_id)
        assert row["attempt"] == 2
        errors = row["errors"]
        assert isinstance(errors, list) and len(errors) == 1
        assert errors[0]["type"] == "pgqueue.WorkerLost" and "worker lost" in errors[0]["message"]
        assert errors[0]["attempt"] == 1
        runs = conn.execute(
            "SELECT attempt, pid, started_at, finished_at FROM exec_log WHERE job_id = %s ORDER BY id",
            (job_id,),
        ).fetchall()
        assert [(a, p) for a, p, _, _ in runs] == [(1, victim.pid), (2, survivor.pid)]
        assert runs[0][3] is None  # the killed run never finished ...
        rerun_started = runs[1][2]
        assert rerun_started > killed_at  # ... and the rerun began only after it died
        assert (rerun_started - killed_at).total_seconds() < 20
    assert stop(survivor) == 0


def test_sigstopped_worker_late_completion_changes_nothing(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    fast = ("--lease", "2", "--heartbeat-interval", "0.5", "--rescue-interval", "0.5")
    frozen = workers.start("--concurrency", "1", *fast)
    job_id = enqueue(conn, "t.slow_first", "[3]")
    wait_for(lambda: conn.execute("SELECT count(*) FROM exec_log").fetchone() == (1,), timeout=30)
    os.kill(frozen.pid, signal.SIGSTOP)
    other = workers.start("--concurrency", "1", *fast)
    wait_for(lambda: job(conn, job_id)["state"] == "succeeded", timeout=30)
    before = job(conn, job_id)
    assert before["attempt"] == 2 and before["result"] == {"pid": other.pid, "attempt": 2}

    os.kill(frozen.pid, signal.SIGCONT)
    # The frozen run finishes its sleep and tries to complete attempt 1: fenced out.
    wait_for(lambda: "fenced out" in workers.log(0), timeout=30)
    assert job(conn, job_id) == before
    assert stop(frozen) == 0
    assert stop(other) == 0


def test_sigterm_lets_running_jobs_finish_and_claims_nothing_new(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    proc = workers.start("--concurrency", "2")
    running = [enqueue(conn, "t.sleep", "[1.5]"), enqueue(conn, "t.async_sleep", "[1.5]")]
    wait_for(lambda: conn.execute("SELECT count(*) FROM exec_log").fetchone() == (2,), timeout=30)
    waiting = [enqueue(conn, "t.add", "[1, 1]") for _ in range(3)]
    assert stop(proc) == 0
    for job_id in running:
        assert job(conn, job_id)["state"] == "succeeded"
    for job_id in waiting:
        row = job(conn, job_id)
        assert (row["state"], row["attempt"]) == ("queued", 0)
    assert "running" not in states(conn)
    assert conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (0,)


def test_sigterm_hands_back_jobs_longer_than_the_shutdown_timeout(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    proc = workers.start("--concurrency", "2", "--shutdown-timeout", "1")
    sync_id, async_id = enqueue(conn, "t.sleep", "[120]"), enqueue(conn, "t.async_sleep", "[120]")
    wait_for(lambda: conn.execute("SELECT count(*) FROM exec_log").fetchone() == (2,), timeout=30)
    assert stop(proc, timeout=30) == 0
    # The async attempt was cancelled, so it went back at once, its attempt refunded.
    row = job(conn, async_id)
    assert (row["state"], row["attempt"], row["errors"]) == ("queued", 0, [])
    assert row["worker_id"] is None and row["lease_expires_at"] is None
    assert "handback" in workers.log(0)
    # The sync attempt's thread could not be stopped: it was not handed back while it
    # could run; the process exit ended it and its lease is left to expire (a supervisor
    # would hand it on at once: tests/worker/test_no_double_runs.py).
    row = job(conn, sync_id)
    assert (row["state"], row["attempt"]) == ("running", 1)
    assert "their threads cannot be stopped" in workers.log(0)


def test_second_signal_stops_at_once(exec_log: psycopg.Connection, workers: Workers) -> None:
    conn = exec_log
    proc = workers.start("--concurrency", "1")
    job_id = enqueue(conn, "t.sleep", "[120]")
    wait_for(lambda: conn.execute("SELECT count(*) FROM exec_log").fetchone() == (1,), timeout=30)
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "send again to stop at once" in workers.log(0), timeout=10)
    assert stop(proc, signal.SIGTERM, timeout=10) != 0
    assert job(conn, job_id)["state"] == "running"  # left to the rescuer


def test_retries_backoff_dead_letters_and_results(exec_log: psycopg.Connection, workers: Workers) -> None:
    conn = exec_log
    app = pgqueue.App(dsn=workers.dsn)
    proc = workers.start("--concurrency", "4")
    flaky = app.enqueue("t.flaky", args=(2,))
    always = app.enqueue("t.always_fails", max_attempts=3)  # by name: the task default is not known here
    discarded = app.enqueue("t.discard")
    not_covered = app.enqueue("t.retry_on")
    added = app.enqueue("t.async_add", args=(20, 22))
    document = app.enqueue("tests.worker.tasks_app.process_document", args=(7,))
    missing_document = app.enqueue("tests.worker.tasks_app.process_document", args=(-1,))

    assert flaky.result(timeout=30) == {"attempts": 3}
    assert added.result(timeout=30) == 42
    assert document.result(timeout=30) == {"document_id": 7, "pages": 3}
    for dead_job, attempts, error in (
        (always, 3, "ValueError: boom"),
        (discarded, 1, "PermanentError: bad input"),
        (not_covered, 1, "KeyError: 'not transient'"),
        (missing_document, 1, "PermanentError: document -1 does not exist"),
    ):
        with pytest.raises(pgqueue.JobFailed) as failed:
            dead_job.result(timeout=30)
        assert failed.value.state == "dead" and failed.value.last_error == error
        row = job(conn, dead_job.id)
        assert row["attempt"] == attempts
        assert isinstance(row["errors"], list) and len(row["errors"]) == attempts

    row = job(conn, flaky.id)
    assert (row["state"], row["attempt"]) == ("succeeded", 3)
    errors = row["errors"]
    assert isinstance(errors, list)
    assert [e["attempt"] for e in errors] == [1, 2]
    assert all(e["type"] == "tests.worker.tasks_app.TransientError" for e in errors)
    assert "Traceback" in errors[0]["traceback"] and "transient failure on attempt 1" in errors[0]["message"]
    starts = [
        r[0]
        for r in conn.execute(
            "SELECT started_at FROM exec_log WHERE job_id = %s ORDER BY attempt", (flaky.id,)
        ).fetchall()
    ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6, gaps  # back-off 0.3 s then 0.6 s (no jitter)
    assert stop(proc) == 0


def test_listener_reconnects_after_its_backend_is_terminated(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    proc = workers.start("--poll-interval", "60")
    workers.wait_registered(1)
    old = wait_for(lambda: listener_pids(conn))
    conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(old),))
    new = wait_for(lambda: listener_pids(conn) - old, timeout=15)
    assert new
    job_id = enqueue(conn, "t.add", "[2, 3]")
    wait_for(lambda: job(conn, job_id)["state"] == "succeeded", timeout=10)
    row = job(conn, job_id)
    assert (row["started_at"] - row["created_at"]).total_seconds() < 1.0  # type: ignore[operator]
    assert "listener reconnected" in workers.log(0)
    assert stop(proc) == 0


def test_connection_lost_while_registering_is_retried_not_fatal(
    exec_log: psycopg.Connection, workers: Workers, dsn: str
) -> None:
    """A failover can cut the worker's connection between its start-up probe and its
    registration: the worker retries (logged) instead of exiting."""
    conn = exec_log
    with psycopg.connect(dsn) as locker:
        locker.execute("LOCK pgqueue.workers IN ACCESS EXCLUSIVE MODE")  # registration waits
        proc = workers.start("--poll-interval", "60")
        waiting = wait_for(
            lambda: conn.execute(
                "SELECT array_agg(pid) FROM pg_stat_activity WHERE application_name = 'pgqueue-worker' "
                "AND wait_event_type = 'Lock'"
            ).fetchone()[0],  # type: ignore[index]
            timeout=30,
        )
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (waiting,))
        wait_for(lambda: "could not register the worker" in workers.log(0), timeout=15)
        assert proc.poll() is None, workers.log(0)
    workers.wait_registered(1)
    job_id = enqueue(conn, "t.add", "[2, 3]")
    wait_for(lambda: job(conn, job_id)["state"] == "succeeded", timeout=30)
    assert stop(proc) == 0


def test_supervisor_restarts_a_dead_child_and_stops_cleanly(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    conn = exec_log
    sup = workers.start("--processes", "2", "--concurrency", "2")
    first = workers.wait_registered(2)
    pids = {pid for _, pid in first}
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: {pid for _, pid in workers.registered()} - pids - {victim}, timeout=30)
    job_id = enqueue(conn, "t.add", "[1, 1]")
    wait_for(lambda: job(conn, job_id)["state"] == "succeeded", timeout=15)
    assert stop(sup) == 0
    # The live children deregistered; the supervisor removed the killed child's row when it
    # handed on its (here: no) jobs.
    assert workers.registered() == []
