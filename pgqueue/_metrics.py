"""Prometheus metrics: what an app's workers did, and how deep its queues are.

Job metrics are recorded by the worker process that runs the job (an observer on the
app's hooks, see :mod:`pgqueue._hooks`); queue depth comes from the database, read by
the process that serves ``/metrics`` only when it is scraped, at most once per
:data:`QUEUE_STATS_TTL_S`, so idle workers send no extra query. Under
``pgqueue work --processes N`` the children record into files of a
``PROMETHEUS_MULTIPROC_DIR`` the supervisor made, and the supervisor serves one
endpoint that adds them up (prometheus-client's multiprocess mode).

Needs ``prometheus-client`` (extra ``pgqueue[metrics]``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import psycopg

from . import _db
from ._sql import query
from ._worker.outcome import OUTCOMES
from .errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from ._worker import Worker
    from ._worker.execution import Execution
    from ._worker.outcome import Outcome
    from .app import App

log = logging.getLogger("pgqueue.metrics")

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
QUEUE_STATS_TTL_S: Final = 10.0
"""Queue depth is read from the database at most this often (at scrape time)."""
DEFAULT_HOST: Final = "0.0.0.0"
"""An exporter is there to be scraped from other hosts (the dashboard, with actions, is not)."""
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    900.0, 3600.0,
)


def _require() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "metrics need prometheus-client; install it with: pip install 'pgqueue[metrics]'"
        ) from None


def multiprocess_dir() -> str | None:
    """The multiprocess directory when this process records into one, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


class JobMetrics:
    """The per-process job metrics; an observer on the app's hooks (see module doc)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        labels = ("queue", "task")
        self.counters = {
            kind: Counter(f"pgqueue_jobs_{kind}", f"Jobs {kind} by this worker", labels, registry=registry)
            for kind in ("started", "failed", *(i.metric for i in OUTCOMES.values() if i.metric))
        }
        self.duration = Histogram(
            "pgqueue_job_duration_seconds",
            "Run time of one attempt, from the task call to its outcome",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.latency = Histogram(
            "pgqueue_job_latency_seconds",
            "From when a job was due (enqueued, or its run_at) to its start, by the database clock",
            ("queue",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "pgqueue_jobs_running",
            "Attempts running now",
            labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.worker_info = Gauge(
            "pgqueue_worker_info",
            "1 per running worker process, its settings as labels",
            ("worker_id", "hostname", "version", "queues", "concurrency"),
            multiprocess_mode="livemax",
            registry=registry,
        )

    # --- observer (pgqueue._hooks.Observer) ----------------------------------------------------
    def on_started(self, ex: Execution) -> None:
        row = ex.row
        self.counters["started"].labels(row.queue, row.task).inc()
        self.running.labels(row.queue, row.task).inc()
        if row.started_at is not None:
            self.latency.labels(row.queue).observe(max(0.0, (row.started_at - row.run_at).total_seconds()))

    def on_settled(self, ex: Execution, outcome: Outcome) -> None:
        row = ex.row
        self.running.labels(row.queue, row.task).dec()
        if ex.duration is not None:
            self.duration.labels(row.queue, row.task).observe(ex.duration)

    def on_written(self, ex: Execution, outcome: Outcome) -> None:
        counter = outcome.kind.info.metric  # pgqueue._worker.outcome.OUTCOMES
        if counter is None:
            return
        row = ex.row
        if ex.error is not None and counter in ("retried", "dead"):
            self.counters["failed"].labels(row.queue, row.task).inc()
        self.counters[counter].labels(row.queue, row.task).inc()

    # --- worker hooks -----------------------------------------------------------------------
    def _info_labels(self, worker: Worker) -> tuple[str, ...]:
        from . import __version__

        return (
            str(worker.id),
            socket.gethostname(),
            __version__,
            ",".join(worker.queues),
            str(worker.config.concurrency),
        )

    def worker_started(self, worker: Worker) -> None:
        self.worker_info.labels(*self._info_labels(worker)).set(1)

    def worker_stopping(self, worker: Worker) -> None:
        labels = self._info_labels(worker)
        if multiprocess_dir() is None:
            self.worker_info.remove(*labels)
        else:  # labels cannot be removed there; the supervisor drops a dead process's gauges
            self.worker_info.labels(*labels).set(0)


class QueueCollector:
    """``pgqueue_queue_*`` gauges read from the database at scrape time, cached for
    ``ttl`` seconds; a failed read is logged and the last values are served again."""

    def __init__(self, dsn: Callable[[], str], ttl: float = QUEUE_STATS_TTL_S) -> None:
        self._dsn = dsn
        self.ttl = ttl
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._read_at: float | None = None
        self.reads = 0

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        rows = self._fresh_rows()
        depth = GaugeMetricFamily(
            "pgqueue_queue_jobs",
            "Jobs per queue and state (queued = due now; scheduled = due later), from the database",
            labels=("queue", "state"),
        )
        age = GaugeMetricFamily(
            "pgqueue_queue_oldest_job_age_seconds",
            "Age of the oldest due job per queue (0 when none waits), from the database",
            labels=("queue",),
        )
        paused = GaugeMetricFamily("pgqueue_queue_paused", "1 when the queue is paused", labels=("queue",))
        for queue, queued, scheduled, running, waiting, dead, oldest_s, is_paused in rows:
            for state, value in (
                ("queued", queued),
                ("scheduled", scheduled),
                ("running", running),
                ("waiting", waiting),
                ("dead", dead),
            ):
                depth.add_metric((queue, state), float(value))
            age.add_metric((queue,), float(oldest_s))
            paused.add_metric((queue,), 1.0 if is_paused else 0.0)
        yield depth
        yield age
        yield paused

    def describe(self) -> list[Metric]:
        return []  # registering must not query the database

    def _fresh_rows(self) -> list[tuple[Any, ...]]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self.ttl:
                return self._rows
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = _db.connect(self._dsn(), application_name="pgqueue-metrics")
                self._rows = self._conn.execute(query("metrics_queues")).fetchall()
                self.reads += 1
            except psycopg.Error as exc:
                log.warning("could not read queue depth for /metrics: %s", exc)
                self._close_conn()
            self._read_at = now
            return self._rows

    def _close_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_conn()


def exposition_registry(
    queues: QueueCollector | None, own: CollectorRegistry | None, path: str | None
) -> CollectorRegistry:
    """What ``/metrics`` shows: this process's job metrics (``own``), or with a
    multiprocess directory ``path`` every process's (read from its files), plus the
    queue gauges."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if path is None:
        registry = own if own is not None else CollectorRegistry()
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    if queues is not None:
        registry.register(queues)
    return registry


class Server:
    """A running ``/metrics`` HTTP endpoint (a daemon thread); :meth:`close` stops it."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str) -> None:
        from prometheus_client import start_http_server

        try:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}); choose another --metrics-port"
            ) from None
        self.port: int = self._httpd.server_port
        self.host = host

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Metrics:
    """Prometheus metrics of an app's workers (``app.metrics``).

    Creating it (on first access of ``app.metrics``) makes every worker of the app in
    this process record job metrics. ``registry`` is what to expose: hand it to
    ``prometheus_client.generate_latest`` or ``make_asgi_app``, or call :meth:`serve`.
    Raises ConfigurationError when prometheus-client is not installed.
    """

    def __init__(self, app: App) -> None:
        _require()
        from prometheus_client import CollectorRegistry

        self._own = CollectorRegistry(auto_describe=True)
        self.jobs = JobMetrics(self._own)
        self.queues = QueueCollector(lambda: app.dsn)
        self._registry: CollectorRegistry | None = None
        self._servers: list[Server] = []
        app.hooks.add_observer(self.jobs)
        app.hooks.add("worker_started", self.jobs.worker_started)
        app.hooks.add("worker_stopping", self.jobs.worker_stopping)

    @property
    def registry(self) -> CollectorRegistry:
        if self._registry is None:
            self._registry = exposition_registry(self.queues, self._own, multiprocess_dir())
        return self._registry

    def generate(self) -> bytes:
        """The exposition text (Prometheus format) of :attr:`registry`."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def serve(self, port: int = 9464, host: str = DEFAULT_HOST) -> Server:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread (port 0: any free
        port, see ``.port``). Raises ConfigurationError when the port is taken."""
        server = Server(self.registry, port, host)
        self._servers.append(server)
        log.info("metrics on http://%s:%s/metrics", host, server.port)
        return server

    def close(self) -> None:
        """Stop the servers :meth:`serve` started and close the queue-depth connection."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        self.queues.close()


def serve_multiprocess(dsn: str, port: int, host: str, path: str) -> tuple[Server, QueueCollector]:
    """For the supervisor: one endpoint over its children's files in ``path`` plus the
    queue gauges read with ``dsn``. Raises ConfigurationError (no prometheus-client,
    port taken)."""
    _require()
    queues = QueueCollector(lambda: dsn)
    server = Server(exposition_registry(queues, None, path), port, host)
    log.info("metrics of all worker processes on http://%s:%s/metrics", host, server.port)
    return server, queues


def mark_process_dead(pid: int, path: str) -> None:
    """Drop a dead child's live gauges (running jobs, worker info) from ``path``."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
