"""Rolling deploys (invariant 10): a worker never spends an attempt on a task it does not
know. Real `pgqueue work` processes: an old release's worker hands such a job back
untouched, records what it can run in its registry row (`pgqueue workers ls --tasks`,
`pgqueue tasks ls`), doctor names the job, and a worker of the new release runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgqueue
from tests.helpers import wait_for
from tests.worker import rolling_app
from tests.worker.conftest import ROOT, Workers

OLD = "tests.worker.rolling_app:old"
NEW = "tests.worker.rolling_app:new"


@pytest.fixture
def new_app(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pgqueue.App]:
    """The new release's app (the web tier that enqueues), on this test's database."""
    monkeypatch.setattr(rolling_app.new, "_dsn", dsn)
    monkeypatch.setattr(rolling_app.new, "_resolved_dsn", None)
    yield rolling_app.new
    rolling_app.new.close()


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _job(conn: psycopg.Connection, job_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT state, attempt, started_at IS NOT NULL, jsonb_array_length(errors), last_error, "
        "run_at > created_at FROM pgqueue.jobs WHERE id = %s",
        (job_id,),
    ).fetchone()
    assert row is not None
    keys = ("state", "attempt", "claimed", "errors", "last_error", "delayed")
    return dict(zip(keys, row, strict=True))


def _tasks_of_live_workers(conn: psycopg.Connection) -> list[list[str] | None]:
    rows = conn.execute(
        "SELECT meta -> 'tasks' FROM pgqueue.workers WHERE expires_at > now() AND NOT stopping"
    ).fetchall()
    return [r[0] for r in rows]


def test_an_unknown_task_waits_untouched_for_a_worker_that_knows_it(
    dsn: str, conn: psycopg.Connection, workers: Workers, new_app: pgqueue.App
) -> None:
    workers.start("-q", "rolling", "--concurrency", "2", app=OLD)
    # Every App also registers the built-in pgqueue.map (task.map / starmap / chunks), as
    # Celery's workers list celery.map and friends.
    wait_for(lambda: _tasks_of_live_workers(conn) == [["pgqueue.map", "rolling.known"]], timeout=30)

    waiting = rolling_app.added.enqueue(7)  # the new web tier, before the workers update
    control = rolling_app.known.enqueue(1)
    assert control.result(timeout=30) == 2

    # The old worker claimed it, and handed it back untouched: no attempt spent, no error.
    # (between its claim and its hand-back the row reads running, attempt 1: wait past that)
    wait_for(lambda: _job(conn, waiting.id)["claimed"] and _job(conn, waiting.id)["state"] == "queued",
             timeout=30)
    seen = _job(conn, waiting.id)
    assert seen == {"state": "queued", "attempt": 0, "claimed": True, "errors": 0, "last_error": None,
                    "delayed": True}  # fmt: skip
    # Handed back again and again while it waits: still no attempt spent.
    claimed_at = conn.execute("SELECT started_at FROM pgqueue.jobs WHERE id = %s", (waiting.id,)).fetchone()
    wait_for(
        lambda: conn.execute(
            "SELECT started_at > %s AND state = 'queued' FROM pgqueue.jobs WHERE id = %s",
            (claimed_at[0], waiting.id),
        ).fetchone() == (True,),
        timeout=30,
    )
    assert _job(conn, waiting.id)["attempt"] == 0
    assert "'rolling.added' is not registered on this worker" in workers.log(0)

    # What the workers can run, and what none can.
    listed = json.loads(_cli(dsn, "workers", "ls", "--json").stdout)
    assert [(w["tasks"], w["queues"], w["concurrency"], w["pool"]) for w in listed] == [
        (["pgqueue.map", "rolling.known"], ["rolling"], 2, "thread")
    ]
    table = _cli(dsn, "workers", "ls", "--tasks")
    assert table.returncode == 0 and "rolling.known" in table.stdout
    tasks = json.loads(_cli(dsn, "tasks", "ls", "--json").stdout)
    assert [(t["task"], t["workers"], t["queues"]) for t in tasks] == [
        ("pgqueue.map", 1, ["rolling"]), ("rolling.known", 1, ["rolling"])
    ]
    doctor = _cli(dsn, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["unrunnable"]["status"] == "ok"  # younger than the 5-minute default
    doctor = _cli(dsn, "doctor", "--json", "--unrunnable-age", "1s")
    assert doctor.returncode == 1
    unrunnable = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}["unrunnable"]
    assert unrunnable["status"] == "warn" and unrunnable["data"]["jobs"] == 1
    assert "rolling.added on rolling (1)" in unrunnable["detail"]

    # The new release's worker starts: the job runs, on its first attempt.
    new_worker = workers.start("-q", "rolling", "--concurrency", "2", app=NEW)
    assert waiting.result(timeout=60)["pid"] == new_worker.pid
    assert _job(conn, waiting.id)["attempt"] == 1
    doctor = _cli(dsn, "doctor", "--json", "--unrunnable-age", "1s")
    assert {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}["unrunnable"]["status"] == "ok"


def test_the_worker_that_handed_a_job_back_sets_no_timer_for_it(
    conn: psycopg.Connection, workers: Workers, new_app: pgqueue.App
) -> None:
    """A timer for the moment its hand-back is due would race the timer of a worker that
    knows the task (which learns that moment from its start-up probe) and could win every
    round. The old worker polls once an hour here; a job it knows, due in 1 s, makes it
    probe for the next due job after the hand-back: that probe skips the unknown task, so
    the old worker leaves the job alone once it is due."""
    workers.start("-q", "rolling", "--poll-interval", "3600", app=OLD)
    workers.wait_registered(1)
    waiting = rolling_app.added.enqueue(2)
    wait_for(lambda: _job(conn, waiting.id)["claimed"] and _job(conn, waiting.id)["state"] == "queued",
             timeout=30)  # fmt: skip
    (started, run_at) = conn.execute(
        "SELECT started_at, run_at FROM pgqueue.jobs WHERE id = %s", (waiting.id,)
    ).fetchone()  # type: ignore[misc]
    known = rolling_app.known.configure(delay=1).enqueue(1)
    assert known.result(timeout=30) == 2
    # Due about 4.5 s after the hand-back (2 s, plus 2.5 s: half the poll interval at
    # most); 1.5 s past that, nobody claimed it again.
    wait_for(
        lambda: conn.execute("SELECT now() > %s + interval '1.5 s'", (run_at,)).fetchone() == (True,),
        timeout=30,
    )
    now = conn.execute("SELECT started_at, state FROM pgqueue.jobs WHERE id = %s", (waiting.id,)).fetchone()
    assert now == (started, "queued")


@pytest.mark.parametrize("how", ["env", "flag"])
def test_failing_unknown_tasks_is_an_explicit_opt_in(
    conn: psycopg.Connection,
    workers: Workers,
    new_app: pgqueue.App,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    if how == "env":
        monkeypatch.setenv("PGQUEUE_UNKNOWN_TASKS", "fail")
        workers.start("-q", "rolling", app=OLD)
    else:
        monkeypatch.setenv("PGQUEUE_UNKNOWN_TASKS", "wait")  # the flag wins over the environment
        workers.start("-q", "rolling", "--unknown-tasks", "fail", app=OLD)
    job = rolling_app.added.configure(max_attempts=1).enqueue(1)
    with pytest.raises(pgqueue.JobFailed, match="UnknownTask"):
        job.result(timeout=30)
    assert _job(conn, job.id)["attempt"] == 1


def test_a_bad_unknown_tasks_setting_is_refused(workers: Workers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUE_UNKNOWN_TASKS", "drop")
    proc = workers.start("-q", "rolling", app=OLD)
    assert proc.wait(timeout=30) != 0
    assert workers.log(0).strip().splitlines()[-1] == (
        "error: --unknown-tasks (PGQUEUE_UNKNOWN_TASKS) must be wait or fail, got 'drop'"
    )


def test_a_bad_unknown_tasks_flag_is_refused_in_one_sentence(dsn: str) -> None:
    done = _cli(dsn, "work", "--app", OLD, "--unknown-tasks", "drop")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --unknown-tasks (PGQUEUE_UNKNOWN_TASKS) must be wait or fail, got 'drop'"
    )


def test_stop_when_idle_does_not_wait_for_jobs_of_tasks_it_does_not_know(
    dsn: str, conn: psycopg.Connection, new_app: pgqueue.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that stops when idle stops once nothing *it can run* is due or scheduled:
    a job of another release's task is not its work (it hands it back untouched, and would
    otherwise claim it again every few seconds forever)."""
    import threading

    monkeypatch.setattr(rolling_app.old, "_dsn", dsn)
    monkeypatch.setattr(rolling_app.old, "_resolved_dsn", None)
    waiting = rolling_app.added.enqueue(5)  # only the new release knows it
    known = rolling_app.known.enqueue(1)
    later = rolling_app.known.configure(delay=2).enqueue(2)  # scheduled: its own work, waited for
    worker = pgqueue.Worker(rolling_app.old, queues=["rolling"], stop_when_idle=True, poll_interval=0.2)
    runner = threading.Thread(target=worker.run, daemon=True)
    try:
        runner.start()
        runner.join(timeout=60)  # a deadline, not a speed check: without the fix it never returns
        assert not runner.is_alive(), "a stop_when_idle worker waited for a job it cannot run"
    finally:
        if runner.is_alive():
            worker.stop(timeout=30)
        rolling_app.old.close()
    assert known.result(timeout=5) == 2 and later.result(timeout=5) == 3
    assert worker.stats.succeeded == 2
    assert _job(conn, waiting.id) | {"delayed": True} == {
        "state": "queued", "attempt": 0, "claimed": True, "errors": 0, "last_error": None, "delayed": True,
    }  # fmt: skip


def test_jobs_no_live_worker_can_run_are_a_metric(dsn: str, conn: psycopg.Connection) -> None:
    from pgqueue._metrics_collectors import QueueCollector

    conn.execute(
        "INSERT INTO pgqueue.jobs (task, queue, created_at) "
        "SELECT 'rolling.added', 'rolling', now() - interval '1 hour' FROM generate_series(1, 3)"
    )
    conn.execute(  # a live worker of the old release: it serves the queue, not the task
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, expires_at, meta) "
        "VALUES (gen_random_uuid(), 'h', 1, '{rolling}', 1, 'x', now() + interval '1 hour', "
        "'{\"tasks\": [\"rolling.known\"]}')"
    )
    collector = QueueCollector(lambda: dsn, ttl=0.0, history=False)
    try:
        families = {m.name: m for m in collector.collect()}
    finally:
        collector.close()
    samples = [(s.labels, s.value) for s in families["pgqueue_jobs_unrunnable"].samples]
    assert samples == [({"queue": "rolling", "task": "rolling.added"}, 3.0)]


@pytest.mark.slow
@pytest.mark.timeout(900)  # past the suite's 300 s: ten minutes of waiting, by design
def test_an_unknown_task_survives_ten_minutes_then_runs_at_once(
    conn: psycopg.Connection, workers: Workers, new_app: pgqueue.App
) -> None:
    """The issue's acceptance: ten minutes of database time with only old workers (each
    hands it back every 30 s at most), attempts untouched; then a new worker runs it
    within its first claims (the hand-back delay is capped at 30 s, its poll is 5 s)."""
    workers.start("-q", "rolling", app=OLD)
    waiting = rolling_app.added.enqueue(3)
    wait_for(
        lambda: conn.execute(
            "SELECT now() > created_at + interval '10 minutes' FROM pgqueue.jobs WHERE id = %s", (waiting.id,)
        ).fetchone() == (True,),
        timeout=700,
        interval=1.0,
    )
    # Read it between claims (a claim shows it running, attempt 1, until the hand-back).
    seen = wait_for(lambda: (job := _job(conn, waiting.id))["state"] == "queued" and job, timeout=60)
    assert seen | {"delayed": True} == {
        "state": "queued", "attempt": 0, "claimed": True, "errors": 0, "last_error": None, "delayed": True,
    }  # fmt: skip
    new_worker = workers.start("-q", "rolling", app=NEW)
    assert waiting.result(timeout=60)["pid"] == new_worker.pid
    assert _job(conn, waiting.id)["attempt"] == 1


def test_stats_count_handed_back_and_rescued_jobs(
    dsn: str, conn: psycopg.Connection, workers: Workers, new_app: pgqueue.App
) -> None:
    """`pgqueue stats` reads what the jobs do not record from the workers' rows: jobs of
    unknown tasks handed back, jobs rescued from dead workers (expired leases), and the
    running jobs whose lease has expired right now."""
    workers.start("-q", "rolling", "--heartbeat-interval", "0.5", "--rescue-interval", "0.5", app=OLD)
    rolling_app.added.enqueue(1)  # the old worker does not know it

    def counts() -> dict[str, int]:
        return dict(json.loads(_cli(dsn, "stats", "--json").stdout)["workers"])

    wait_for(lambda: counts()["unknown_handed_back"] >= 1, timeout=60)
    # A job of a worker that died a while ago: its lease expired, the rescue gives it back.
    conn.execute(
        "INSERT INTO pgqueue.jobs (task, queue, args, state, attempt, worker_id, lease_expires_at, "
        "started_at) VALUES ('rolling.known', 'rolling', '[5]', 'running', 1, gen_random_uuid(), "
        "now() - interval '1 second', now() - interval '1 minute')"
    )
    seen = wait_for(lambda: (c := counts())["rescued"] >= 1 and c, timeout=60)
    assert seen["expired_leases"] == 0 and seen["live"] == 1 and seen["registered"] == 1
    assert seen["handed_back"] == 0
    text = _cli(dsn, "stats").stdout
    assert "handed back (task not registered)" in text and "rescued (lease expired)" in text
