"""Failover: a primary and a synchronous streaming replica (their own throw-away clusters),
workers on a multi-host DSN with target_session_attrs=read-write. The primary dies mid-run
(``pg_ctl stop -m immediate``), the replica is promoted; the workers reconnect by themselves
and every job whose enqueue commit was acknowledged ends ``succeeded``.

Synchronous replication is what makes "acknowledged" mean "on the replica too": with
asynchronous replication a crash of the primary may lose the last commits, which no job
system on top can bring back.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgqueue import _health, _migrate
from tests.deploy.infra import DEPLOY_LOG, Cluster, WorkerGroup, runs_per_job, states, wait_until
from tests.helpers import wait_for


@dataclass(frozen=True)
class Profile:
    before: int  # jobs succeeded before the primary dies
    after: int  # jobs acknowledged by the new primary before the producer stops
    sleep: float  # seconds each job runs (some are mid-run at the failover)
    processes: int
    outage: float  # seconds with no writable host between the crash and the promotion


SHORT = Profile(before=20, after=20, sleep=0.05, processes=1, outage=0.0)
FULL = Profile(before=400, after=400, sleep=0.2, processes=2, outage=5.0)


@pytest.fixture
def pair(service_dir: Path) -> Iterator[tuple[Cluster, Cluster]]:
    base = service_dir / "clusters"
    primary = Cluster(base / "primary")
    replica: Cluster | None = None
    try:
        primary.initdb().start()
        _migrate.upgrade(primary.dsn())
        with primary.connect() as c:
            c.execute(DEPLOY_LOG)
        replica = primary.basebackup_to(base / "replica", "replica").start()
        with primary.connect() as c:
            # Set after the base backup, so the promoted replica does not wait for a standby.
            c.execute("ALTER SYSTEM SET synchronous_standby_names = 'replica'")
            c.execute("SELECT pg_reload_conf()")
            wait_for(
                lambda: c.execute(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica'"
                ).fetchone()
                == ("sync",),
                timeout=60,
            )
        yield primary, replica
    finally:
        for cluster in (primary, replica):
            if cluster is not None:
                try:
                    cluster.stop("immediate")
                except Exception as exc:  # teardown goes on; the next cluster must stop too
                    print(f"stopping {cluster.datadir}: {exc}")
        shutil.rmtree(base, ignore_errors=True)


class Producer(threading.Thread):
    """Enqueues one job per transaction through the multi-host DSN, reconnecting after errors;
    ``acked`` holds the ids whose COMMIT returned successfully."""

    def __init__(self, dsn: str, sleep: float) -> None:
        super().__init__(name="producer", daemon=True)
        self.dsn = dsn
        self.sleep = sleep
        self.acked: list[int] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        n = 0
        while not self.stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=3)
                n += 1
                row = conn.execute(
                    "INSERT INTO pgqueue.jobs (task, args) VALUES ('deploy.record', %s) RETURNING id",
                    (psycopg.types.json.Jsonb([n, self.sleep]),),
                ).fetchone()
                assert row is not None
                self.acked.append(row[0])
            except psycopg.Error:
                self.failures += 1  # outcome unknown: not counted as acknowledged
                if conn is not None:
                    conn.close()
                self.stop.wait(0.1)
            else:
                self.stop.wait(0.01)
        if conn is not None:
            conn.close()


def succeeded(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as c:
            row = c.execute("SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded'").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


@pytest.mark.parametrize(
    "profile", [SHORT, pytest.param(FULL, marks=pytest.mark.slow)], ids=["short", "full"]
)
def test_workers_survive_primary_failover_without_losing_jobs(
    pair: tuple[Cluster, Cluster], worker_group: WorkerGroup, profile: Profile
) -> None:
    primary, replica = pair
    multi = (
        f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{replica.port}/postgres"
        "?target_session_attrs=read-write&connect_timeout=3"
    )
    # The standby is not a place to run workers, and the probe says so.
    on_standby = _health.check(replica.dsn())
    assert not on_standby.ok and on_standby.in_recovery is True

    work_args = ["--concurrency", "4", "--processes", str(profile.processes), "--poll-interval", "1",
                 "--lease", "4", "--heartbeat-interval", "1", "--rescue-interval", "1"]
    worker_group.start(multi, *work_args, name="host-a")
    worker_group.start(multi, *work_args, name="host-b")
    producer = Producer(multi, profile.sleep)
    producer.start()
    try:
        wait_until(lambda: succeeded(primary.dsn()) >= profile.before, 120, worker_group.logs)

        primary.stop("immediate")  # a crash: no shutdown checkpoint, connections cut
        crashed_at = time.monotonic()
        acked_at_failover = len(producer.acked)
        time.sleep(profile.outage)  # the outage itself (no writable host), not a synchronisation
        replica.promote()
        promoted_at = time.monotonic()
        wait_until(lambda: len(producer.acked) > acked_at_failover, 120, worker_group.logs)
        first_ack_s = time.monotonic() - crashed_at

        wait_until(
            lambda: len(producer.acked) >= acked_at_failover + profile.after,
            120,
            lambda: f"producer failures={producer.failures}\n{worker_group.logs()}",
        )
    finally:
        producer.stop.set()
        producer.join(timeout=30)
    acked = list(producer.acked)

    def all_done() -> bool:
        return states(replica.dsn(), acked) == {"succeeded": len(acked)}

    wait_until(all_done, 180, lambda: f"{states(replica.dsn(), acked)}\n{worker_group.logs()}")
    done_s = time.monotonic() - crashed_at
    assert worker_group.alive(), "a worker exited instead of reconnecting:\n" + worker_group.logs()
    runs = runs_per_job(replica.dsn())
    assert set(acked) <= set(runs)
    again = sum(1 for job in acked if runs[job] > 1)  # at least once: an interrupted attempt reruns
    print(
        f"\nacknowledged {len(acked)} jobs ({acked_at_failover} before the crash), all succeeded; "
        f"{producer.failures} enqueue attempts failed during the failover; promotion took "
        f"{promoted_at - crashed_at:.1f}s, first acknowledged enqueue {first_ack_s:.1f}s after the crash, "
        f"all done {done_s:.1f}s after it; {again} ran twice"
    )
    assert _health.check(replica.dsn()).ok
    assert worker_group.stop() == [0, 0], worker_group.logs()
