"""Prometheus metrics: a 2-process worker's single endpoint, and app.metrics embedded."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

import pgqueue
from tests.helpers import wait_for
from tests.worker.conftest import Workers, insert_jobs

APP = "tests.monitoring.metrics_app:app"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def workers(dsn: str, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(dsn, tmp_path)
    yield w
    w.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def present(samples: Samples, name: str, **labels: str) -> int:
    """How many samples called ``name`` have labels including ``labels``."""
    want = set(labels.items())
    return sum(1 for (n, ls) in samples if n == name and want <= set(ls))


def scraped_when(port: int, name: str, value: float) -> Samples | None:
    """The scrape once the total of ``name`` is ``value`` (hooks run right after commits)."""
    s = scrape(port)
    return s if total(s, name) == value else None


def states(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM pgqueue.jobs GROUP BY state").fetchall())


def test_two_process_worker_serves_one_coherent_endpoint(
    conn: psycopg.Connection, workers: Workers
) -> None:
    port = free_port()
    sup = workers.start(
        "--processes", "2", "--concurrency", "4", "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
        app=APP,
    )
    registered = workers.wait_registered(2)
    insert_jobs(conn, "m.ok", "jsonb_build_array(g)", 150)
    insert_jobs(conn, "m.flaky", "jsonb_build_array(g)", 30)
    insert_jobs(conn, "m.doomed", "jsonb_build_array(g)", 20, max_attempts="1")
    wait_for(lambda: states(conn) == {"succeeded": 180, "dead": 20}, timeout=120, interval=0.2)

    wait_for(lambda: scraped_when(port, "pgqueue_jobs_succeeded_total", 180), timeout=30)
    s = wait_for(lambda: scraped_when(port, "pgqueue_jobs_dead_total", 20), timeout=30)
    # Counters: every transition counted once, whichever process made it.
    assert total(s, "pgqueue_jobs_started_total") == 230
    assert total(s, "pgqueue_jobs_started_total", task="m.flaky", queue="default") == 60
    assert total(s, "pgqueue_jobs_succeeded_total", task="m.ok") == 150
    assert total(s, "pgqueue_jobs_succeeded_total", task="m.flaky") == 30
    assert total(s, "pgqueue_jobs_failed_total") == 50
    assert total(s, "pgqueue_jobs_retried_total", task="m.flaky") == 30
    assert total(s, "pgqueue_jobs_dead_total", task="m.doomed") == 20
    # Histograms: one duration observation per attempt, one latency observation per start.
    assert total(s, "pgqueue_job_duration_seconds_count", task="m.ok") == 150
    assert total(s, "pgqueue_job_duration_seconds_count", task="m.flaky") == 60
    assert total(s, "pgqueue_job_duration_seconds_count") == 230
    assert total(s, "pgqueue_job_duration_seconds_bucket", task="m.ok", le="+Inf") == 150
    assert total(s, "pgqueue_job_latency_seconds_count", queue="default") == 230
    assert total(s, "pgqueue_job_latency_seconds_sum") > 0
    assert total(s, "pgqueue_jobs_running") == 0
    # Claim and completion statements: one reading per statement (a batch), in both
    # processes; 230 attempts need at least one of each, and never more than one per attempt.
    for statement in ("claim", "complete"):
        assert 1 <= total(s, "pgqueue_statement_duration_seconds_count", statement=statement)
        assert total(s, "pgqueue_statement_duration_seconds_sum", statement=statement) > 0
    assert total(s, "pgqueue_statement_duration_seconds_count", statement="complete") <= 230
    # Both processes contributed; worker info is one series per host and settings whose
    # value counts the live processes (no fresh series per worker id or restart).
    info = [(dict(ls), v) for (n, ls), v in s.items() if n == "pgqueue_worker_info"]
    assert [(labels["hostname"], labels["concurrency"], v) for labels, v in info] == [
        (socket.gethostname(), "4", 2.0)]
    assert len(registered) == 2
    assert total(s, "pgqueue_workers", status="alive") == 2
    # Process metrics of the supervisor and its children together, pool gauges per process.
    assert total(s, "process_resident_memory_bytes") > 0
    assert total(s, "process_open_fds") > 0
    assert total(s, "pgqueue_pool_max_connections", pool="worker") > 0
    # From the database: nothing left to do, the dead letters counted.
    assert total(s, "pgqueue_queue_jobs", queue="default", state="queued") == 0
    assert total(s, "pgqueue_queue_jobs", queue="default", state="dead") == 20
    assert total(s, "pgqueue_queue_oldest_job_age_seconds", queue="default") == 0

    sup.send_signal(2)
    assert sup.wait(timeout=30) == 0


def test_app_metrics_embedded_in_process(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn)

    @app.task(name="e.add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="e.fail", max_attempts=2, backoff_base=0.01, backoff_jitter=0.0)
    async def fail() -> None:
        raise ValueError("no")

    server = app.metrics.serve(0, "127.0.0.1")
    try:
        app.queues.pause("later")
        app.enqueue("e.add", args=(1, 2), queue="later")
        app.enqueue("e.add", args=(1, 2), queue="later", delay=3600)
        jobs = [add.enqueue(i, 1) for i in range(5)]
        failing = fail.enqueue()
        worker = pgqueue.Worker(app, concurrency=2)
        worker.start()
        try:
            assert [j.result(timeout=20) for j in jobs] == [1, 2, 3, 4, 5]
            with pytest.raises(pgqueue.JobFailed):
                failing.result(timeout=20)
            s = wait_for(lambda: scraped_when(server.port, "pgqueue_jobs_dead_total", 1))
            assert total(s, "pgqueue_jobs_succeeded_total", task="e.add", queue="default") == 5
            assert total(s, "pgqueue_jobs_failed_total", task="e.fail") == 2
            assert total(s, "pgqueue_jobs_retried_total", task="e.fail") == 1
            assert total(s, "pgqueue_job_duration_seconds_count", task="e.fail") == 2
            assert 1 <= total(s, "pgqueue_statement_duration_seconds_count", statement="complete") <= 7
            assert total(s, "pgqueue_worker_info", hostname=socket.gethostname(), concurrency="2") == 1
            assert total(s, "pgqueue_workers", status="alive") == 1
            assert total(s, "process_resident_memory_bytes") > 0
            assert present(s, "pgqueue_xmin_horizon_age_seconds") == 1
            assert 0 <= total(s, "pgqueue_xmin_horizon_age_seconds") < 3600  # a test's own transactions
            app.metrics.jobs.sampler.sample()
            assert total(scrape(server.port), "pgqueue_pool_max_connections", pool="worker") > 0
            assert total(s, "pgqueue_queue_jobs", queue="later", state="queued") == 1
            assert total(s, "pgqueue_queue_jobs", queue="later", state="scheduled") == 1
            assert total(s, "pgqueue_queue_paused", queue="later") == 1
            assert present(s, "pgqueue_queue_oldest_job_age_seconds", queue="later") == 1
            assert 0 <= total(s, "pgqueue_queue_oldest_job_age_seconds", queue="later") < 600
        finally:
            worker.stop(timeout=5)
        # Depth is read at scrape time and cached: an idle worker sends no query for it,
        # and scrapes within the cache period share one read.
        reads = app.metrics.queues.reads
        scrape(server.port)
        scrape(server.port)
        assert app.metrics.queues.reads - reads <= 1
        assert b"pgqueue_jobs_started_total" in app.metrics.generate()
        assert "pgqueue_worker_info" not in str(scrape(server.port).keys())  # stopped worker is gone
    finally:
        app.metrics.close()
        app.close()


def test_single_process_cli_serves_metrics_and_refuses_a_taken_port(
    conn: psycopg.Connection, workers: Workers
) -> None:
    port = free_port()
    proc = workers.start("--metrics-port", str(port), "--metrics-host", "127.0.0.1", app=APP)
    workers.wait_registered(1)
    insert_jobs(conn, "m.ok", "jsonb_build_array(g)", 10)
    s = wait_for(lambda: scraped_when(port, "pgqueue_jobs_succeeded_total", 10), timeout=30)
    assert total(s, "pgqueue_worker_info", hostname=socket.gethostname()) == 1
    assert total(s, "pgqueue_job_duration_seconds_count", task="m.ok") == 10

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        second = workers.start("--metrics-port", str(busy), "--metrics-host", "127.0.0.1", app=APP)
        assert second.wait(timeout=60) == 2
    assert "choose another --metrics-port" in workers.log(1)
    proc.send_signal(2)
    assert proc.wait(timeout=30) == 0


def test_series_stay_stable_across_restarts_and_drained_queues(dsn: str) -> None:
    """Worker info keeps one series per host and settings whatever the restarts; a queue
    whose jobs all finished reads 0 instead of vanishing, also for a fresh exporter."""
    app = pgqueue.App(dsn=dsn)

    @app.task(name="s.noop", queue="brief")
    def noop() -> None:
        return None

    server = app.metrics.serve(0, "127.0.0.1")
    try:
        for _ in range(2):  # a restart: a new worker (and id) with the same settings
            job = noop.enqueue()
            worker = pgqueue.Worker(app, concurrency=3, queues=["brief"])
            worker.start()
            try:
                job.result(timeout=20)
                app.metrics.queues.ttl = 0.0
                s = scrape(server.port)
                info = [ls for (n, ls), v in s.items() if n == "pgqueue_worker_info"]
                assert len(info) == 1 and total(s, "pgqueue_worker_info") == 1
            finally:
                worker.stop(timeout=5)
        s = scrape(server.port)
        assert ("pgqueue_queue_jobs", (("queue", "brief"), ("state", "queued"))) in s
        assert total(s, "pgqueue_queue_jobs", queue="brief") == 0
    finally:
        app.metrics.close()
        app.close()
    # A new exporter has never seen the queue: the database's history names it.
    other = pgqueue.App(dsn=dsn)
    try:
        from pgqueue.dashboard import history

        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("UPDATE pgqueue.jobs SET finished_at = finished_at - interval '2 minutes'")
            c.execute("DELETE FROM pgqueue.history_watermark")
            history.tick(c)
        names = {dict(ls).get("queue") for (n, ls), _ in
                 _families(other.metrics.generate()).items() if n == "pgqueue_queue_jobs"}
        assert "brief" in names
    finally:
        other.metrics.close()
        other.close()


def _families(text: bytes) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out
