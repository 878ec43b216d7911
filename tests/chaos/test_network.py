"""Chaos 5 and 6: the workers' connections die under them, loudly (pg_terminate_backend
several times a second) or silently (a half-open network: a proxy that stops forwarding
without closing anything)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.chaos.proxy import Proxy
from tests.chaos.support import (
    Workers,
    assert_sound,
    enqueue_work,
    figure,
    pick,
    report,
    states,
    wait_terminal,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.chaos

FAST = ("--lease", "2", "--heartbeat-interval", "0.5", "--rescue-interval", "0.5")
LEASE_S, RESCUE_S = 2.0, 0.5
WORKER_CONNECTIONS = ("pgqueue-worker", "pgqueue-listener")


def test_backends_terminated_several_times_a_second(chaos_dsn: str, workers: Workers) -> None:
    seconds = pick(4.0, 30.0)
    total = pick(500, 4000)
    enqueue_work(chaos_dsn, total, 0.1)
    workers.start(chaos_dsn, "--processes", "2", "--concurrency", "8", *FAST)
    wait_for(lambda: states(chaos_dsn).get("succeeded", 0) >= 50, timeout=120, interval=0.1)

    rng = random.Random(5)
    terminated = 0
    stuck_seen = 0
    pace = threading.Event()  # the kill rate is the scenario, not a synchronisation
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            victims = [
                r[0]
                for r in c.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = ANY(%s)",
                    (list(WORKER_CONNECTIONS),),
                ).fetchall()
            ]
            for pid in rng.sample(victims, k=min(len(victims), rng.randint(1, 2))):
                c.execute("SELECT pg_terminate_backend(%s)", (pid,))
                terminated += 1
            # No job may stay running past its lease plus a rescue interval (+ slack for the
            # rescuer's own connection being cut now and then).
            row = c.execute(
                "SELECT count(*) FROM pgqueue.jobs WHERE state = 'running' "
                "AND lease_expires_at < now() - make_interval(secs => %s)",
                (RESCUE_S + 5.0,),
            ).fetchone()
            stuck_seen = max(stuck_seen, row[0] if row else 0)
            pace.wait(0.2)
    assert terminated >= seconds * 3
    assert stuck_seen == 0
    wait_terminal(chaos_dsn, total, 300, workers.logs)
    assert workers.alive(), workers.logs()
    rep = report(chaos_dsn)
    # A completion whose connection died after its commit is retried and fenced out; a claim
    # cut after its commit is rescued: runs may repeat, nothing is lost or overlaps.
    assert_sound(rep, total=total, exact_runs=False)
    assert states(chaos_dsn) == {"succeeded": total}
    figure("terminate_backends", seconds=seconds, terminated=terminated, stuck_running=stuck_seen,
           **rep.figures())
    assert workers.stop() == [0], workers.logs()


@pytest.fixture
def proxy(dsn: str) -> Iterator[Proxy]:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    p = Proxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
    yield p
    p.close()


LISTENERS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = 'pgqueue-listener'"
)


def _enqueue_one(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (task, args) VALUES ('c.work', '[0]') RETURNING id"
    ).fetchone()
    assert row is not None
    return int(row[0])


def _latency(conn: psycopg.Connection, job_id: int) -> float | None:
    row = conn.execute(
        "SELECT state, extract(epoch FROM started_at - created_at) FROM pgqueue.jobs WHERE id = %s",
        (job_id,),
    ).fetchone()
    return float(row[1]) if row and row[0] == "succeeded" else None


@pytest.mark.needs_tcp
def test_half_open_network(chaos_dsn: str, proxy: Proxy, workers: Workers) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(chaos_dsn)["dbname"]
    ping, ping_timeout, deadline = 1.0, 1.0, 3.0
    env = {
        "CHAOS_LOG_DSN": chaos_dsn,  # the task's own log goes around the proxy
        "CHAOS_PING_INTERVAL": str(ping),
        "CHAOS_PING_TIMEOUT": str(ping_timeout),
        "CHAOS_DEADLINE": str(deadline),
    }
    # Poll only once a minute: a job that starts within seconds was woken by LISTEN.
    workers.start(proxy.dsn(str(dbname)), "--concurrency", "4", "--poll-interval", "60", env=env)
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        old = wait_for(lambda: {r[0] for r in c.execute(LISTENERS).fetchall()}, timeout=30)
        first = _enqueue_one(c)
        assert wait_for(lambda: _latency(c, first) is not None, timeout=20)

        cut = proxy.blackhole()  # every connection the worker has is now half-open
        cut_at = time.monotonic()
        try:
            wait_for(lambda: {r[0] for r in c.execute(LISTENERS).fetchall()} - old, timeout=60)
        except AssertionError:
            busy = c.execute("SELECT count(*) FROM pg_stat_activity").fetchone()
            raise AssertionError(f"no new listener; {busy} backends\n{workers.logs()}") from None
        noticed_in = time.monotonic() - cut_at
        # Claims and completions recover (the pooled connections hit their deadline) ...
        second = _enqueue_one(c)
        wait_for(lambda: _latency(c, second) is not None, timeout=45)
        # ... and wake-ups flow again: the next job starts long before the 60 s poll.
        third = _enqueue_one(c)
        wait_for(lambda: _latency(c, third) is not None, timeout=20)
        third_latency = _latency(c, third)
        assert third_latency is not None and third_latency < 10
        beat = c.execute("SELECT extract(epoch FROM now() - heartbeat_at) FROM pgqueue.workers").fetchone()
        assert beat is not None and float(beat[0]) < 9.0
    log = workers.log(0)
    assert "listener reconnected" in log and "no answer from the database" in log, log
    rep = report(chaos_dsn)
    assert_sound(rep, total=3)
    figure("half_open", connections_cut=cut, listener_back_after_s=f"{noticed_in:.2f}",
           ping_s=ping, ping_timeout_s=ping_timeout, wake_latency_after_s=f"{third_latency:.3f}")
    assert workers.stop() == [0], workers.logs()

