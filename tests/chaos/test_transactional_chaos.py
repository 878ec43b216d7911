"""Exactly-once database effects of transactional tasks, with real processes: workers
SIGKILLed at random and their transactions' backends terminated while three processes
drain; a worker frozen (SIGSTOP) past its lease whose late commit is fenced out."""

from __future__ import annotations

import os
import random
import signal
import threading

import psycopg
import pytest

from tests.chaos.support import (
    Workers,
    figure,
    kill_random_worker,
    pick,
    states,
    wait_terminal,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.chaos

FAST = ("--lease", "2", "--heartbeat-interval", "0.5", "--rescue-interval", "0.5")
TASKS = ("c.tx_conn", "c.tx_session", "c.tx_async")


def enqueue_tx(dsn: str, count: int, seconds: float) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(
            "INSERT INTO pgqueue.jobs (task, args, max_attempts)"
            " SELECT (%s::text[])[1 + i %% 3], jsonb_build_array(%s::float8), 25"
            " FROM generate_series(1, %s) AS i",
            (list(TASKS), seconds, count),
        )


def registered(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pgqueue.workers").fetchone()
    return int(row[0]) if row else 0


def terminate_tx_backends(dsn: str, n: int) -> int:
    """Terminate up to ``n`` backends of transactional attempts (mid-transaction)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        rows = c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'pgqueue-worker-tx' AND datname = current_database()"
            " AND state = 'idle in transaction' LIMIT %s",
            (n,),
        ).fetchall()
    return sum(1 for r in rows if r[0])


def test_kill_storm_leaves_exactly_one_effect_per_job(chaos_dsn: str, workers: Workers) -> None:
    total = pick(1500, 10000)
    enqueue_tx(chaos_dsn, total, 0.02)
    workers.start(chaos_dsn, "--processes", "3", "--concurrency", "6", *FAST)
    wait_for(lambda: registered(chaos_dsn) >= 3, timeout=60)

    rng = random.Random(23)
    killed: set[int] = set()
    terminated = 0
    pace = threading.Event()  # the kill cadence is the scenario, not a synchronisation
    while len(killed) < pick(4, 12) and states(chaos_dsn).get("queued", 0) > 0:
        pace.wait(pick(1.0, 3.0))
        kill_random_worker(chaos_dsn, killed, rng)
        terminated += terminate_tx_backends(chaos_dsn, 2)
    assert len(killed) >= 3, f"only {len(killed)} kills before the queue drained"

    wait_terminal(chaos_dsn, total, 300, workers.logs)
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        assert states(chaos_dsn) == {"succeeded": total}
        effects, jobs_with_effect = c.execute(
            "SELECT count(*), count(DISTINCT job_id) FROM effects WHERE key LIKE 'tx%%'"
        ).fetchone() or (0, 0)
        assert (effects, jobs_with_effect) == (total, total)  # exactly one per job
        mismatched = c.execute(
            "SELECT count(*) FROM effects e JOIN pgqueue.jobs j ON j.id = e.job_id"
            " WHERE e.attempt <> j.attempt"
        ).fetchone()
        assert mismatched == (0,)  # the surviving effect is the committed attempt's
        retried = c.execute("SELECT count(*) FROM pgqueue.jobs WHERE attempt > 1").fetchone()
        started = c.execute("SELECT count(*) FROM exec_log").fetchone()
    assert retried is not None and retried[0] > 0  # some attempts died and ran again
    assert started is not None and started[0] > total  # more runs than effects
    figure(
        "transactional kill storm",
        jobs=total,
        kills=len(killed),
        backends_terminated=terminated,
        retried=retried[0],
        runs=started[0],
        effects=effects,
    )


def test_a_frozen_worker_past_its_lease_commits_nothing(chaos_dsn: str, workers: Workers) -> None:
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        row = c.execute(
            "INSERT INTO pgqueue.jobs (task, args, max_attempts)"
            " VALUES ('c.tx_conn', '[1.5]', 5) RETURNING id"
        ).fetchone()
    assert row is not None
    job_id = row[0]
    first = workers.start(chaos_dsn, "--concurrency", "1", *FAST)

    def attempt_started(n: int) -> bool:
        with psycopg.connect(chaos_dsn, autocommit=True) as c:
            got = c.execute(
                "SELECT 1 FROM exec_log WHERE job_id = %s AND attempt = %s", (job_id, n)
            ).fetchone()
        return got is not None

    wait_for(lambda: attempt_started(1), timeout=60)
    os.killpg(first.pid, signal.SIGSTOP)  # frozen mid-task: its effect is written, uncommitted
    try:
        workers.start(chaos_dsn, "--concurrency", "1", *FAST)  # rescues the job once the lease lapses
        wait_for(lambda: states(chaos_dsn).get("succeeded", 0) == 1, timeout=60)
    finally:
        os.killpg(first.pid, signal.SIGCONT)

    def first_run_ended() -> bool:
        with psycopg.connect(chaos_dsn, autocommit=True) as c:
            got = c.execute(
                "SELECT finished_at IS NOT NULL FROM exec_log WHERE job_id = %s AND attempt = 1", (job_id,)
            ).fetchone()
        return bool(got and got[0])

    wait_for(first_run_ended, timeout=30)  # the frozen run finished its body and tried to commit
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        # Its transaction is over once its process has nothing open on the effects table.
        wait_for(
            lambda: (
                c.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgqueue-worker-tx'"
                    " AND state LIKE '%%in transaction%%' AND datname = current_database()"
                ).fetchone()
                == (0,)
            ),
            timeout=30,
        )
        effects = c.execute("SELECT job_id, attempt FROM effects ORDER BY id").fetchall()
        job = c.execute("SELECT state, attempt FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    assert job == ("succeeded", 2)
    assert effects == [(job_id, 2)]  # the rescued run's row; the frozen run's was fenced out
