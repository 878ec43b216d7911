"""Issue 16, the process pool (``pgqueue work --pool process``, ``pool="process"``): sync
tasks in pre-forked children the worker can kill. Real worker processes, real signals;
each scenario checks in SQL (exec_log) that no two executions of one job overlap, and the
exact attempt counts. Time bounds are the issue's, generous."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from types import ModuleType

import psycopg
import pytest

import pgqueue
from pgqueue._admin import cancel_jobs
from pgqueue.errors import ConfigurationError, InvalidOption
from tests.helpers import wait_for
from tests.worker.conftest import Workers
from tests.worker.test_no_double_runs import enqueue, job, overlaps, runs

APP = "tests.worker.proc_app:app"


@pytest.fixture
def proc_app(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The process pool test app, pointed at this test's database (in-process workers)."""
    from tests.worker import proc_app as module

    monkeypatch.setattr(module.app, "_dsn", dsn)
    monkeypatch.setattr(module.app, "_resolved_dsn", None)
    module.app.close()
    yield module
    module.app.close()


def pool_worker(workers: Workers, *args: str) -> None:
    workers.start("--pool", "process", "--lease", "60", *args, app=APP)


def enqueue_task(conn: psycopg.Connection, task: str, args: str = "[]", max_attempts: int = 3) -> int:
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, args, max_attempts) VALUES (%s, %s::jsonb, %s) RETURNING id",
        (task, args, max_attempts),
    ).fetchone()
    assert row is not None
    return int(row[0])


def result(conn: psycopg.Connection, job_id: int) -> object:
    row = conn.execute(
        "SELECT result FROM pgqueue.jobs WHERE id = %s AND state = 'succeeded'", (job_id,)
    ).fetchone()
    return row[0] if row is not None else None


def durations(conn: psycopg.Connection, job_id: int) -> list[float]:
    rows = conn.execute(
        "SELECT extract(epoch FROM finished_at - started_at)::float8 FROM exec_log "
        "WHERE job_id = %s AND attempt > 0 ORDER BY started_at",
        (job_id,),
    ).fetchall()
    return [r[0] for r in rows]


def test_hard_timeout_kills_the_child_and_retries(exec_log: psycopg.Connection, workers: Workers) -> None:
    """timeout=1 s on a 3 s body that ignores ctx.cancelled, two pool workers: each attempt
    is killed about 1 s in (its child replaced), failed with TimeoutError and retried; three
    attempts, one after the other, in three different children."""
    conn = exec_log
    for _ in range(2):
        pool_worker(workers, "--concurrency", "2")
    workers.wait_registered(2)
    job_id = enqueue(conn, "p.hard_timeout", 3.0)
    wait_for(lambda: job(conn, job_id)[0] == "dead", timeout=60, interval=0.05)

    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("dead", 3)
    assert [e["type"] for e in errors] == ["TimeoutError"] * 3
    assert all("exceeded its timeout of 1.0s" in str(e["message"]) for e in errors)
    executions = runs(conn, job_id)
    assert [a for a, _ in executions] == [1, 2, 3]
    assert len({pid for _, pid in executions}) == 3  # each killed child was replaced
    # Stopped about 1 s in (last sign of life), nowhere near the 3 s body.
    assert all(d < 2.0 for d in durations(conn, job_id)), durations(conn, job_id)
    assert overlaps(conn) == 0


def test_soft_timeout_raises_inside_the_task(exec_log: psycopg.Connection, workers: Workers) -> None:
    """soft_timeout=0.5 s: TimeoutError is raised inside the task, which catches it,
    records it from the same process, and re-raises; the hard limit never fires."""
    conn = exec_log
    workers.start("--concurrency", "2", app=APP)  # pool="process" is pinned on the task
    workers.wait_registered(1)
    job_id = enqueue_task(conn, "p.soft_timeout", "[5.0]", max_attempts=1)
    wait_for(lambda: job(conn, job_id)[0] == "dead", timeout=60, interval=0.05)

    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("dead", 1)
    assert [e["type"] for e in errors] == ["TimeoutError"]
    assert "soft timeout of 0.5s" in str(errors[0]["message"])
    rows = conn.execute(
        "SELECT attempt, pid FROM exec_log WHERE job_id = %s ORDER BY id", (job_id,)
    ).fetchall()
    # The body, then the handler's row (attempt -1) written by the same child.
    assert [r[0] for r in rows] == [1, -1]
    assert rows[0][1] == rows[1][1] != workers.procs[0].pid
    assert durations(conn, job_id)[0] < 2.0


def test_cancel_of_a_running_job_stops_it_within_a_second(
    exec_log: psycopg.Connection, workers: Workers, dsn: str
) -> None:
    """`pgqueue jobs cancel` (cancel_jobs) of a 30 s body that never checks ctx.cancelled:
    its child is killed within 1 s, the job ends cancelled at attempt 1, never rerun."""
    conn = exec_log
    pool_worker(workers, "--concurrency", "2")
    workers.wait_registered(1)
    job_id = enqueue(conn, "p.stubborn", 30.0)
    wait_for(lambda: runs(conn, job_id), timeout=30)
    app = pgqueue.App(dsn=dsn)
    try:
        asked = conn.execute("SELECT clock_timestamp()").fetchone()
        assert asked is not None
        outcome = cancel_jobs(app, [job_id])
        assert outcome.requested or outcome.cancelled
        wait_for(lambda: job(conn, job_id)[0] == "cancelled", timeout=10, interval=0.02)
    finally:
        app.close()
    row = conn.execute(
        "SELECT extract(epoch FROM max(l.finished_at) - %s)::float8, "
        "       extract(epoch FROM j.finished_at - %s)::float8 "
        "FROM exec_log l JOIN pgqueue.jobs j ON j.id = l.job_id WHERE j.id = %s GROUP BY j.finished_at",
        (asked[0], asked[0], job_id),
    ).fetchone()
    assert row is not None
    last_alive, finished = row
    assert last_alive < 1.0, row  # the body's last sign of life: within 1 s of the cancel
    assert finished < 1.5, row
    assert job(conn, job_id)[:2] == ("cancelled", 1)
    assert [a for a, _ in runs(conn, job_id)] == [1]


@pytest.mark.chaos
def test_a_sigkilled_pool_child_hands_its_job_on_at_once(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    """A pool child SIGKILLed mid-job (lease 60 s): the job is finished at once as a lost
    attempt (WorkerLost, counted) and runs again in a new child of the same worker."""
    conn = exec_log
    pool_worker(workers, "--concurrency", "2")
    workers.wait_registered(1)
    job_id = enqueue(conn, "p.stubborn", 3.0)
    [(_, pid)] = wait_for(lambda: runs(conn, job_id), timeout=30)
    assert pid != workers.procs[0].pid
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(runs(conn, job_id)) == 2, timeout=20, interval=0.02)
    assert time.monotonic() - killed < 5.0  # generous: the lease would take 60 s
    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=60, interval=0.05)
    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("succeeded", 2)
    assert [e["type"] for e in errors] == ["pgqueue.WorkerLost"]
    assert "SIGKILL" in str(errors[0]["message"])
    assert [a for a, _ in runs(conn, job_id)] == [1, 2]
    assert overlaps(conn) == 0
    assert workers.procs[0].poll() is None  # the worker itself lives on


def test_a_child_that_exits_mid_job_is_a_lost_attempt(exec_log: psycopg.Connection, workers: Workers) -> None:
    """os._exit inside the task: attempt 1 is lost (WorkerLost, exit code 3), attempt 2
    succeeds in a fresh child."""
    conn = exec_log
    workers.start("--concurrency", "1", app=APP)
    workers.wait_registered(1)
    job_id = enqueue_task(conn, "p.exit")
    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=30, interval=0.05)
    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("succeeded", 2)
    assert [e["type"] for e in errors] == ["pgqueue.WorkerLost"]
    assert "exit code 3" in str(errors[0]["message"])


def test_children_are_recycled_after_max_tasks(exec_log: psycopg.Connection, workers: Workers) -> None:
    """--max-tasks-per-child 3, one child, 9 jobs: three children, three jobs each."""
    conn = exec_log
    pool_worker(workers, "--concurrency", "4", "--pool-size", "1", "--max-tasks-per-child", "3")
    workers.wait_registered(1)
    ids = [enqueue_task(conn, "p.pid") for _ in range(9)]
    wait_for(lambda: all(result(conn, i) for i in ids), timeout=60, interval=0.05)
    pids = [result(conn, i) for i in ids]
    counts = sorted(pids.count(p) for p in set(pids))
    assert counts == [3, 3, 3], pids
    attempts = conn.execute("SELECT DISTINCT attempt FROM pgqueue.jobs WHERE id = ANY(%s)", (ids,)).fetchall()
    assert attempts == [(1,)]


def test_children_are_recycled_above_the_memory_cap(exec_log: psycopg.Connection, workers: Workers) -> None:
    """--max-memory-per-child: a child that leaked past the cap during a job is replaced
    after it; one below the cap is kept."""
    conn = exec_log
    pool_worker(workers, "--concurrency", "1", "--pool-size", "1", "--max-memory-per-child", "250")

    def run(task: str, args: str = "[]") -> object:
        job_id = enqueue_task(conn, task, args)
        return wait_for(lambda: result(conn, job_id), timeout=60, interval=0.02)

    workers.wait_registered(1)
    first = run("p.pid")
    assert run("p.leak", "[1]") == first  # a small leak: same child
    assert run("p.leak", "[300]") == first  # runs there, then the child is over the cap
    fresh = run("p.pid")
    assert fresh != first
    assert run("p.pid") == fresh
    assert "recycled (resident size" in workers.log(0)


def test_embedded_stop_kills_a_stuck_pool_job_and_hands_it_back(
    proc_app: ModuleType, task_app: ModuleType, exec_log: psycopg.Connection, workers: Workers
) -> None:
    """An embedded Worker(pool="process").stop(timeout=0.5) with a 30 s body that ignores
    ctx.cancelled: the child is killed, the job handed back (attempt refunded) once it is
    gone, and another worker runs it; the two executions do not overlap."""
    conn = exec_log
    first = pgqueue.Worker(proc_app.app, concurrency=2, pool="process")
    first.start()
    try:
        job_id = enqueue(conn, "p.stubborn", 30.0)
        wait_for(lambda: runs(conn, job_id), timeout=30)
    finally:
        started = time.monotonic()
        first.stop(timeout=0.5)
    assert time.monotonic() - started < 10.0  # generous: the body has 30 s to go
    assert job(conn, job_id)[:2] == ("queued", 0)  # handed back, attempt refunded

    conn.execute("UPDATE pgqueue.jobs SET args = '[0.5]' WHERE id = %s", (job_id,))
    pool_worker(workers, "--concurrency", "2")
    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=60, interval=0.05)
    assert job(conn, job_id)[:2] == ("succeeded", 1)
    assert [a for a, _ in runs(conn, job_id)] == [1, 1]
    assert overlaps(conn) == 0


@pytest.mark.chaos
def test_a_sigkilled_worker_takes_its_pool_children_with_it(
    exec_log: psycopg.Connection, workers: Workers
) -> None:
    """`--processes 2 --pool process`: SIGKILL the worker process (not the pool child) that
    runs a job. Its pool child dies with it (no orphan goes on running the body), the
    supervisor hands the job on at once, and the two executions do not overlap."""
    conn = exec_log
    sup = workers.start(
        "--processes", "2", "--pool", "process", "--concurrency", "1", "--lease", "60", app=APP
    )
    registered = workers.wait_registered(2)
    job_id = enqueue(conn, "p.stubborn", 3.0)
    [(_, child)] = wait_for(lambda: runs(conn, job_id), timeout=30)
    owner = _parent_of(child)
    assert owner in {pid for _, pid in registered}
    os.kill(owner, signal.SIGKILL)
    wait_for(lambda: not _alive(child), timeout=10, interval=0.02)
    wait_for(lambda: job(conn, job_id)[0] == "succeeded", timeout=60, interval=0.05)
    state, attempt, errors = job(conn, job_id)
    assert (state, attempt) == ("succeeded", 2)
    assert [e["type"] for e in errors] == ["pgqueue.WorkerLost"]
    assert [a for a, _ in runs(conn, job_id)] == [1, 2]
    assert overlaps(conn) == 0
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(timeout=60) == 0, workers.log(0)


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"soft_timeout": 5, "timeout": 5}, "must be shorter than timeout"),
        ({"soft_timeout": 0}, "soft_timeout must be > 0"),
        ({"pool": "fork"}, "pool must be"),
    ],
)
def test_bad_pool_options_are_refused(options: dict[str, object], message: str) -> None:
    app = pgqueue.App(dsn="postgresql://unused")
    with pytest.raises(InvalidOption, match=message):
        app.task(name="p.bad", **options)(lambda: None)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pool": "fork"}, "pool must be"),
        ({"pool_size": 0}, "pool_size must be"),
        ({"max_tasks_per_child": 0}, "max_tasks_per_child must be"),
        ({"max_memory_per_child": -1}, "max_memory_per_child must be"),
    ],
)
def test_bad_pool_settings_are_refused(settings: dict[str, object], message: str) -> None:
    from pgqueue._worker.config import WorkerConfig

    with pytest.raises(ConfigurationError, match=message):
        WorkerConfig(**settings)  # type: ignore[arg-type]
