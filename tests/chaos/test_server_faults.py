"""Chaos 4, 7, 8, 9: the server misbehaves under running workers. Each runs on a cluster of
its own (``own_cluster``): stopped for a while, starved of connections, its xmin horizon
held, switched read-only. Workers survive, log at a bounded rate, recover by themselves,
and every job ends terminal with none lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.chaos.support import (
    Workers,
    assert_sound,
    enqueue_work,
    figure,
    live_worker_pids,
    log_lines,
    pick,
    report,
    states,
    wait_terminal,
)
from tests.deploy.infra import Cluster
from tests.helpers import wait_for

pytestmark = pytest.mark.chaos


def succeeded(dsn: str) -> int:
    return states(dsn).get("succeeded", 0)


def hold(seconds: float, check: object = None) -> None:
    """Let a fault last ``seconds`` (the scenario's duration, not a synchronisation),
    calling ``check()`` every 0.25 s meanwhile."""
    end = time.monotonic() + seconds
    pace = threading.Event()
    while time.monotonic() < end:
        if callable(check):
            check()
        pace.wait(min(0.25, max(0.0, end - time.monotonic())))


def log_size(workers: Workers) -> int:
    return sum(log_lines(workers.log(i)) for i in range(len(workers.procs)))


def test_postgres_restart_mid_run(own_cluster: Cluster, cluster_dsn: str, workers: Workers) -> None:
    total = pick(300, 1000)
    outage = pick(3.0, 10.0)
    enqueue_work(cluster_dsn, total, 0.2)
    workers.start(cluster_dsn, "--processes", "2", "--concurrency", "8")
    wait_for(lambda: succeeded(cluster_dsn) >= total // 10, timeout=120, interval=0.1)
    pids = set(live_worker_pids(cluster_dsn, set()))
    assert len(pids) == 2
    lines_before = log_size(workers)

    own_cluster.stop("fast")  # every connection is closed; new ones are refused
    hold(outage, lambda: workers.alive() or pytest.fail("a worker exited:\n" + workers.logs()))
    lines_outage = log_size(workers) - lines_before
    own_cluster.start()

    wait_terminal(cluster_dsn, total, 300, workers.logs)
    lines_total = log_size(workers) - lines_before
    assert workers.alive() and set(live_worker_pids(cluster_dsn, set())) >= pids, workers.logs()
    assert "exited with" not in workers.log(0)  # no child died and was restarted
    # Bounded logging: back-offs, not one line per attempt. 2 processes, ~10 s: a flood would
    # be thousands of lines; this allows a couple of lines a second per process and service.
    assert lines_outage <= 2 * (20 + 6 * outage), workers.log(0)[-5000:]
    rep = report(cluster_dsn)
    # Runs whose end could not be logged (the log write failed with the server down) and runs
    # repeated after a lost completion are the documented at-least-once cost; losses are not.
    assert_sound(rep, total=total, exact_runs=False, known_ends=False)
    assert states(cluster_dsn) == {"succeeded": total}
    figure("postgres_restart", outage_s=outage, log_lines_outage=lines_outage,
           log_lines_until_done=lines_total, **rep.figures())
    assert workers.stop() == [0], workers.logs()


def test_read_only_database_for_a_while(own_cluster: Cluster, cluster_dsn: str, workers: Workers) -> None:
    total = pick(200, 600)
    spell = pick(3.0, 10.0)
    enqueue_work(cluster_dsn, total, 0.1)
    workers.start(cluster_dsn, "--processes", "2", "--concurrency", "4")
    wait_for(lambda: succeeded(cluster_dsn) >= total // 10, timeout=120, interval=0.1)
    lines_before = log_size(workers)
    with _read_only(own_cluster):
        hold(spell, lambda: workers.alive() or pytest.fail("a worker exited:\n" + workers.logs()))
        lines_spell = log_size(workers) - lines_before
        done_during = succeeded(cluster_dsn)
    wait_terminal(cluster_dsn, total, 300, workers.logs)
    assert workers.alive(), workers.logs()
    assert "ReadOnlySqlTransaction" in workers.log(0) or "read-only" in workers.log(0)
    assert lines_spell <= 2 * (20 + 6 * spell), workers.log(0)[-5000:]
    rep = report(cluster_dsn)
    assert_sound(rep, total=total, exact_runs=False, known_ends=False)
    assert states(cluster_dsn) == {"succeeded": total}
    figure("read_only", spell_s=spell, log_lines=lines_spell, succeeded_at_end_of_spell=done_during,
           **rep.figures())
    assert workers.stop() == [0], workers.logs()


@contextmanager
def _read_only(cluster: Cluster) -> Iterator[None]:
    def setting(value: str) -> None:
        with cluster.connect() as c:
            c.execute("SET default_transaction_read_only = off")
            c.execute(f"ALTER SYSTEM SET default_transaction_read_only = {value}")  # constant
            c.execute("SELECT pg_reload_conf()")

    setting("on")  # reaches every session that did not set it itself, at once
    try:
        yield
    finally:
        setting("off")


def test_connection_starvation(own_cluster: Cluster, cluster_dsn: str, workers: Workers) -> None:
    total = pick(300, 1500)
    starve = pick(5.0, 30.0)
    enqueue_work(cluster_dsn, total, 0.1)
    workers.start(cluster_dsn, "--processes", "2", "--concurrency", "4")
    wait_for(lambda: succeeded(cluster_dsn) >= total // 10, timeout=120, interval=0.1)

    monitor = psycopg.connect(cluster_dsn, autocommit=True)
    hog: list[psycopg.Connection] = []
    try:
        while True:  # take every connection the server gives, then hand back a few
            try:
                hog.append(psycopg.connect(own_cluster.dsn(), autocommit=True, connect_timeout=5))
            except psycopg.OperationalError:
                break
        for _ in range(4):
            hog.pop().close()
        start_done = succeeded_on(monitor)
        beats: list[float] = []

        def check() -> None:
            row = monitor.execute(
                "SELECT extract(epoch FROM max(now() - heartbeat_at)) FROM pgqueue.workers "
                "WHERE expires_at > now() - interval '30 seconds'"
            ).fetchone()
            beats.append(float(row[0]) if row and row[0] is not None else 0.0)

        hold(starve, check)
        during = succeeded_on(monitor) - start_done
        stalest = max(beats)
    finally:
        for c in hog:
            c.close()
        monitor.close()
    wait_terminal(cluster_dsn, total, 300, workers.logs)
    held = len(hog)
    assert during > 0, "no job completed while connections were scarce"
    assert stalest < 9.0, f"a heartbeat was {stalest:.1f}s old (lease 9 s)"
    with psycopg.connect(cluster_dsn, autocommit=True) as c:
        lost_leases = c.execute(
            "SELECT count(*) FROM pgqueue.jobs WHERE errors @> '[{\"type\": \"pgqueue.WorkerLost\"}]'"
        ).fetchone()
    assert lost_leases == (0,), "a live worker's lease expired"
    rep = report(cluster_dsn)
    assert_sound(rep, total=total, exact_runs=False, known_ends=False)
    assert states(cluster_dsn) == {"succeeded": total}
    figure("starvation", seconds=starve, connections_taken=held, jobs_done_while_starved=during,
           stalest_heartbeat_s=f"{stalest:.2f}", leases_lost=0, **rep.figures())
    assert workers.stop() == [0], workers.logs()


def succeeded_on(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded'").fetchone()
    return int(row[0]) if row else 0


def test_held_xmin_horizon_under_steady_load(
    own_cluster: Cluster, cluster_dsn: str, workers: Workers
) -> None:
    phase = pick(3.0, 30.0)
    workers.start(cluster_dsn, "--processes", "2", "--concurrency", "8")
    stop = threading.Event()
    enqueued: list[int] = []

    def produce() -> None:  # about 200 jobs/s, in small transactions
        pace = threading.Event()
        while not stop.is_set():
            enqueued.extend(enqueue_work(cluster_dsn, 10, 0.0))
            pace.wait(0.05)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        wait_for(lambda: succeeded(cluster_dsn) >= 200, timeout=120, interval=0.1)
        base_start = succeeded(cluster_dsn)
        hold(phase)
        baseline = succeeded(cluster_dsn) - base_start
        with psycopg.connect(cluster_dsn) as pinned:  # REPEATABLE READ snapshot held open
            pinned.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            pinned.execute("SELECT count(*) FROM pgqueue.jobs")
            held_start = succeeded(cluster_dsn)
            hold(phase)
            during = succeeded(cluster_dsn) - held_start
            pinned.rollback()
        after_start = succeeded(cluster_dsn)
        hold(phase)
        after = succeeded(cluster_dsn) - after_start
    finally:
        stop.set()
        producer.join(timeout=30)
    total = len(enqueued)
    wait_terminal(cluster_dsn, total, 300, workers.logs)
    # No collapse while the horizon is pinned, and recovery once it is released.
    assert during >= baseline // 4, (baseline, during, after)
    assert after >= baseline // 4, (baseline, during, after)
    rep = report(cluster_dsn)
    assert_sound(rep, total=total)
    figure("held_xmin", phase_s=phase, done_before=baseline, done_while_held=during,
           done_after=after, **rep.figures())
    assert workers.stop() == [0], workers.logs()
