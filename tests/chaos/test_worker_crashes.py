"""Chaos 1-3: workers die (SIGKILL at random, between a task's return and its completion,
and by a task that exits the process) and no job is lost or run twice at once."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

import pgqueue
from tests.chaos.support import (
    Workers,
    assert_sound,
    enqueue_work,
    figure,
    kill_random_worker,
    live_worker_pids,
    pick,
    report,
    sigkill,
    states,
    wait_terminal,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.chaos

# Short leases make the short profile quick; the full profile keeps the defaults (lease 9 s,
# rescue every 5 s), so its rescue figures are the ones users get.
FAST = ("--lease", "2", "--heartbeat-interval", "0.5", "--rescue-interval", "0.5")
LEASE_ARGS = pick(FAST, ())


def registered(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pgqueue.workers").fetchone()
    return int(row[0]) if row else 0


def test_sigkill_random_workers_while_3_processes_drain(chaos_dsn: str, workers: Workers) -> None:
    total = pick(600, 5000)
    kill_every = pick(1.0, 3.0)
    max_kills = pick(4, 12)
    enqueue_work(chaos_dsn, total, 0.1)
    workers.start(chaos_dsn, "--processes", "3", "--concurrency", "8", *LEASE_ARGS)
    wait_for(lambda: registered(chaos_dsn) >= 3, timeout=60)

    rng = random.Random(9)
    killed: set[int] = set()
    pace = threading.Event()  # the kill cadence is the scenario, not a synchronisation
    while len(killed) < max_kills and states(chaos_dsn).get("queued", 0) > 0:
        pace.wait(kill_every)
        kill_random_worker(chaos_dsn, killed, rng)
    assert len(killed) >= 3, f"only {len(killed)} kills before the queue drained"

    wait_terminal(chaos_dsn, total, 300, workers.logs)
    rep = report(chaos_dsn)
    assert_sound(rep, total=total)
    assert states(chaos_dsn) == {"succeeded": total}
    assert rep.rescue_s, "no killed run was rescued"
    if not pick(True, False):  # default leases: invariant 4, rescued within 15 s (+ slack)
        assert rep.rescue_max < 20, rep.summary()
    figure("worker_crashes", kills=len(killed), **rep.figures())
    # The supervisor has restarted the last victim (after its back-off); then it stops cleanly.
    wait_for(lambda: len(live_worker_pids(chaos_dsn, set())) == 3, timeout=60)
    assert workers.stop() == [0], workers.logs()


def test_kill_between_task_return_and_completion_runs_the_job_again_once(
    chaos_dsn: str, workers: Workers
) -> None:
    app = pgqueue.App(dsn=chaos_dsn)
    victim = workers.start(
        chaos_dsn, "--concurrency", "1", *FAST, env={"CHAOS_PAUSE_BEFORE_COMPLETE": "1"}
    )
    job = app.enqueue("c.effect", args=("invoice-7",))
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        # The fault hook: the task returned, its outcome is queued, nothing is written yet.
        wait_for(lambda: c.execute("SELECT count(*) FROM fault_points").fetchone() == (1,), timeout=60)
        assert job.refresh().state == "running"
        assert c.execute("SELECT count(*) FROM exec_log WHERE finished_at IS NOT NULL").fetchone() == (1,)
        sigkill(chaos_dsn, victim.pid)
        killed_at = time.monotonic()
        victim.wait(timeout=10)
        survivor = workers.start(chaos_dsn, "--concurrency", "1", *FAST)

        assert job.result(timeout=60) == "invoice-7"
        rescued_in = time.monotonic() - killed_at
        row = job.refresh().row
        assert (row.state, row.attempt) == ("succeeded", 2)
        errors = c.execute("SELECT errors FROM pgqueue.jobs WHERE id = %s", (job.id,)).fetchone()
        assert errors is not None and [e["type"] for e in errors[0]] == ["pgqueue.WorkerLost"]
        # At least once: the effect of attempt 1 happened and attempt 2 did it again ...
        effects = c.execute("SELECT attempt FROM effects WHERE job_id = %s ORDER BY id", (job.id,)).fetchall()
        assert effects == [(1,), (2,)]
        runs = c.execute("SELECT attempt, pid FROM exec_log ORDER BY id").fetchall()
        assert runs == [(1, victim.pid), (2, survivor.pid)]
        # ... while an effect keyed by the job (the documented recipe) happened once.
        assert c.execute("SELECT job_id, key FROM effects_once").fetchall() == [(job.id, "invoice-7")]
    rep = report(chaos_dsn)
    assert_sound(rep, total=1)
    figure("kill_before_record", runs=rep.runs, effects=2, idempotent_effects=1,
           rerun_after_s=f"{rescued_in:.2f}")
    assert workers.stop()[1] == 0, workers.logs()


def test_poison_job_goes_dead_after_exactly_max_attempts_while_others_flow(
    chaos_dsn: str, workers: Workers
) -> None:
    others = pick(150, 1000)
    enqueue_work(chaos_dsn, others, 0.02)
    poison = pgqueue.App(dsn=chaos_dsn).enqueue("c.poison", max_attempts=3)
    workers.start(chaos_dsn, "--processes", "2", "--concurrency", "4", *FAST)

    wait_terminal(chaos_dsn, others + 1, 240, workers.logs)
    row = poison.refresh().row
    assert (row.state, row.attempt, row.max_attempts) == ("dead", 3, 3)
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        runs = c.execute(
            "SELECT attempt FROM exec_log WHERE job_id = %s ORDER BY id", (poison.id,)
        ).fetchall()
        assert runs == [(1,), (2,), (3,)]
        errors = c.execute("SELECT errors FROM pgqueue.jobs WHERE id = %s", (poison.id,)).fetchone()
        assert errors is not None and [e["type"] for e in errors[0]] == ["pgqueue.WorkerLost"] * 3
        # The other jobs kept flowing while the poison job was still alive.
        before = c.execute(
            "SELECT count(*) FROM pgqueue.jobs WHERE task = 'c.work' AND finished_at < %s",
            (row.finished_at,),
        ).fetchone()
        assert before is not None and before[0] > 0
    assert states(chaos_dsn) == {"succeeded": others, "dead": 1}
    rep = report(chaos_dsn)
    assert_sound(rep, total=others + 1)
    figure("poison", attempts=3, other_jobs=others, others_done_before_dead=before[0], **rep.figures())
    # The supervisor restarts the last victim (after its back-off); then it stops cleanly.
    wait_for(lambda: len(live_worker_pids(chaos_dsn, set())) == 2, timeout=60)
    assert workers.stop() == [0], workers.logs()

