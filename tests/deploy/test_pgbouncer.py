"""Workers behind a real pgbouncer in transaction pooling mode (deploy/pgbouncer/pgbouncer.ini):
claims, completions, heartbeats and the tasks' own writes go through the pooler; wake-ups
come from a direct LISTEN connection (``listen_dsn``) or from polling alone (``--no-listen``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgqueue import _health
from tests.deploy.infra import PgBouncer, WorkerGroup, enqueue_records, runs_per_job, states, wait_until
from tests.helpers import wait_for

JOBS = 60


pytestmark = pytest.mark.needs_tcp


@pytest.fixture
def bouncer(service_dir: Path, dsn: str) -> Iterator[PgBouncer]:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    backend = f"host={info.get('host', '127.0.0.1')} port={info.get('port', 5432)}"
    b = PgBouncer(service_dir / "pgbouncer").start({"*": backend})
    yield b
    b.stop()


def dbname(dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def listeners(conn: psycopg.Connection, db: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'pgqueue-listener'",
        (db,),
    ).fetchone()
    return int(row[0]) if row else 0


def pooled_transactions(bouncer: PgBouncer, db: str) -> int:
    return sum(int(r["total_xact_count"]) for r in bouncer.show("STATS") if r["database"] == db)


def assert_all_ran_once(dsn: str, ids: list[int], group: WorkerGroup) -> None:
    wait_until(lambda: states(dsn, ids) == {"succeeded": len(ids)}, 60, group.logs)
    runs = runs_per_job(dsn)
    assert sorted(runs) == sorted(ids)
    assert set(runs.values()) == {1}


def test_worker_through_pgbouncer_with_listen_dsn(
    deploy_log: psycopg.Connection, dsn: str, bouncer: PgBouncer, worker_group: WorkerGroup
) -> None:
    db = dbname(dsn)
    pooled = bouncer.dsn(db)
    # A long poll interval: finishing well within it shows the direct LISTEN woke the worker.
    worker_group.start(pooled, "--listen-dsn", dsn, "--poll-interval", "60", "--concurrency", "4")
    wait_for(lambda: listeners(deploy_log, db) == 1, timeout=60)
    before = pooled_transactions(bouncer, db)

    ids = enqueue_records(pooled, JOBS)
    wait_until(lambda: states(dsn, ids) == {"succeeded": JOBS}, 40, worker_group.logs)
    assert_all_ran_once(dsn, ids, worker_group)

    # Claims, completions and the tasks' inserts went through the pooler, many per
    # client connection (named prepared statements would have failed by now).
    assert pooled_transactions(bouncer, db) - before >= JOBS
    assert listeners(deploy_log, db) == 1
    assert "prepared statement" not in worker_group.logs()
    # The liveness probe of a worker pod, through the pooler: this host's worker heartbeats.
    assert _health.check(pooled, worker=True).workers_alive == 1
    assert worker_group.stop() == [0]


def test_worker_through_pgbouncer_poll_only(
    deploy_log: psycopg.Connection, dsn: str, bouncer: PgBouncer, worker_group: WorkerGroup
) -> None:
    db = dbname(dsn)
    pooled = bouncer.dsn(db)
    worker_group.start(pooled, "--no-listen", "--poll-interval", "0.5", "--concurrency", "4")
    ids = enqueue_records(pooled, JOBS)
    assert_all_ran_once(dsn, ids, worker_group)
    assert listeners(deploy_log, db) == 0  # no session was ever needed
    assert "prepared statement" not in worker_group.logs()
    assert worker_group.stop() == [0]


def test_health_probe_through_pgbouncer(dsn: str, bouncer: PgBouncer) -> None:
    for _ in range(3):  # a transaction-local statement_timeout leaks into no other client
        verdict = _health.check(bouncer.dsn(dbname(dsn)))
        assert verdict.ok, verdict
    with psycopg.connect(bouncer.dsn(dbname(dsn)), autocommit=True) as c:
        assert c.execute("SHOW statement_timeout").fetchone() == ("0",)


def test_single_enqueues_through_pgbouncer_prepare_nothing(dsn: str, bouncer: PgBouncer) -> None:
    # Direct connections prepare the single enqueue's INSERT; behind the pooler the
    # backend pid differs from the cancel key's, so nothing is prepared and statements
    # from several client connections share server connections without a clash.
    import threading

    import pgqueue

    with pgqueue.App(dsn=bouncer.dsn(dbname(dsn)), pool_min_size=4, pool_max_size=4) as app:

        def produce(base: int) -> None:
            for i in range(25):
                app.enqueue("deploy.record", [base + i, 0.0])

        threads = [threading.Thread(target=produce, args=(100 * n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with app.pool.connection() as conn:
            assert conn.prepare_threshold is None
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (100,)
