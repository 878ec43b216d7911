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
    # Both processes contributed, and both are described once each.
    info = {dict(ls)["worker_id"] for (n, ls), v in s.items() if n == "pgqueue_worker_info" and v == 1}
    assert info == {worker_id for worker_id, _ in registered}
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
            worker_id = {dict(ls)["worker_id"] for (n, ls), _ in s.items() if n == "pgqueue_worker_info"}
            assert worker_id == {str(worker.id)}
            assert total(s, "pgqueue_queue_jobs", queue="later", state="queued") == 1
            assert total(s, "pgqueue_queue_jobs", queue="later", state="scheduled") == 1
            assert total(s, "pgqueue_queue_paused", queue="later") == 1
            assert total(s, "pgqueue_queue_oldest_job_age_seconds", queue="later") >= 0
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
    (worker_id, _), = workers.wait_registered(1)
    insert_jobs(conn, "m.ok", "jsonb_build_array(g)", 10)
    s = wait_for(lambda: scraped_when(port, "pgqueue_jobs_succeeded_total", 10), timeout=30)
    assert total(s, "pgqueue_worker_info", worker_id=worker_id) == 1
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
