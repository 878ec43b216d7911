"""Prometheus metrics: what an app's workers did, and how deep its queues are.

Job metrics are recorded by the worker process that runs the job (an observer on the
app's hooks, see :mod:`pgqueue._hooks`); queue depth comes from the database, read by
the process that serves ``/metrics`` only when it is scraped, at most once per
:data:`pgqueue._metrics_collectors.QUEUE_STATS_TTL_S`, so idle workers send no extra query. Under
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
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._metrics_collectors import QueueCollector
from ._metrics_server import Server, exposition_registry, require
from ._worker import timing
from ._worker.outcome import OUTCOMES

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ._hooks import Attempt, Hooks
    from ._worker.outcome import Outcome

log = logging.getLogger("pgqueue.metrics")


class MetricsApp(Protocol):
    """What the metrics read of an App (this module sits below ``App``, which makes them)."""

    hooks: Hooks

    @property
    def dsn(self) -> str: ...


class WorkerLike(Protocol):
    """What the metrics read of a :class:`pgqueue.Worker` (queues, concurrency, its app)."""

    @property
    def queues(self) -> Sequence[str]: ...
    @property
    def app(self) -> Any: ...
    @property
    def config(self) -> Any: ...


MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_S: Final = 5.0
"""Pool gauges and worker totals (hand-backs, fenced-out, rescues) are copied into the
metrics this often, by one daemon thread per process; no query is sent for them."""
DEFAULT_HOST: Final = "0.0.0.0"
"""An exporter is there to be scraped from other hosts (the dashboard, with actions, is not)."""
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0,
)  # fmt: skip
STATEMENT_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Claims and batched completions take about 1-5 ms on a healthy database."""
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0,
)  # fmt: skip


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
        self.statements = Histogram(
            "pgqueue_statement_duration_seconds",
            "Duration of the worker's claim and batched completion statements (one per batch)",
            ("statement",),
            buckets=STATEMENT_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "pgqueue_jobs_running",
            "Attempts running now",
            labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        # Keyed by what stays the same across restarts (host and settings), never by the
        # worker's id: the value is the number of live worker processes with these labels.
        self.worker_info = Gauge(
            "pgqueue_worker_info",
            "Live worker processes per host and settings (labels), from the workers themselves",
            ("hostname", "version", "queues", "concurrency"),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._live: dict[tuple[str, ...], int] = {}
        self._live_lock = threading.Lock()
        self.sampler = Sampler(registry)

    def on_statement(self, statement: str, seconds: float) -> None:
        """A pgqueue._worker.timing sink."""
        self.statements.labels(statement).observe(seconds)

    # --- observer (pgqueue._hooks.Observer) ----------------------------------------------------
    def on_started(self, ex: Attempt) -> None:
        row = ex.row
        self.counters["started"].labels(row.queue, row.task).inc()
        self.running.labels(row.queue, row.task).inc()
        if row.started_at is not None:
            self.latency.labels(row.queue).observe(max(0.0, (row.started_at - row.run_at).total_seconds()))

    def on_settled(self, ex: Attempt, outcome: Outcome) -> None:
        row = ex.row
        self.running.labels(row.queue, row.task).dec()
        if ex.duration is not None:
            self.duration.labels(row.queue, row.task).observe(ex.duration)

    def on_written(self, ex: Attempt, outcome: Outcome) -> None:
        counter = outcome.kind.info.metric  # pgqueue._worker.outcome.OUTCOMES
        if counter is None:
            return
        row = ex.row
        if ex.error is not None and counter in ("retried", "dead"):
            self.counters["failed"].labels(row.queue, row.task).inc()
        self.counters[counter].labels(row.queue, row.task).inc()

    # --- worker hooks -----------------------------------------------------------------------
    def _info_labels(self, worker: WorkerLike) -> tuple[str, ...]:
        from ._version import __version__

        return (socket.gethostname(), __version__, ",".join(worker.queues), str(worker.config.concurrency))

    def worker_started(self, worker: WorkerLike) -> None:
        labels = self._info_labels(worker)
        with self._live_lock:
            self._live[labels] = self._live.get(labels, 0) + 1
            self.worker_info.labels(*labels).set(self._live[labels])
        self.sampler.track_worker(worker)

    def worker_stopping(self, worker: WorkerLike) -> None:
        labels = self._info_labels(worker)
        with self._live_lock:
            left = max(0, self._live.get(labels, 0) - 1)
            self._live[labels] = left
            if left or multiprocess_dir() is not None:  # multiprocess files cannot drop labels
                self.worker_info.labels(*labels).set(left)
            else:
                self._live.pop(labels, None)
                self.worker_info.remove(*labels)
        self.sampler.sample()


class Sampler:
    """Copies connection-pool gauges and each tracked worker's running totals into the
    metrics every :data:`SAMPLE_S` seconds (and on demand), from one daemon thread.

    Pools and workers are held weakly: a closed app or a stopped worker simply stops
    being sampled. Counters grow by the difference since the last sample, so they
    add up correctly across the processes of ``--processes N``.
    """

    _TOTALS: Final = (
        ("handed_back", "Running jobs handed back unfinished at shutdown"),
        (
            "unknown_handed_back",
            "Claimed jobs of tasks the worker's app does not register, handed back untouched",
        ),
        ("fenced_out", "Outcomes refused by the fence (the worker had lost the job)"),
        ("rescued", "Jobs of dead workers put back by this process's rescuer"),
    )

    def __init__(self, registry: CollectorRegistry, interval: float = SAMPLE_S) -> None:
        from prometheus_client import Counter, Gauge

        self.interval = interval
        self.pool_connections = Gauge(
            "pgqueue_pool_connections",
            "Connections of pgqueue's pools in this process, by pool and state (in_use, idle)",
            ("pool", "state"),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.pool_max = Gauge(
            "pgqueue_pool_max_connections",
            "Configured maximum size of the pool",
            ("pool",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.pool_waiting = Gauge(
            "pgqueue_pool_requests_waiting",
            "Callers waiting for a connection of the pool",
            ("pool",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.totals = {
            name: Counter(f"pgqueue_jobs_{name}", help_, registry=registry) for name, help_ in self._TOTALS
        }
        self._pools: list[tuple[str, weakref.ReferenceType[Any]]] = []
        self._workers: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track_pool(self, name: str, pool: Any) -> None:
        """Sample ``pool`` (a psycopg_pool pool, or anything with ``get_stats()``) as ``name``."""
        if pool is None or not hasattr(pool, "get_stats"):
            return
        with self._lock:
            if not any(ref() is pool for _, ref in self._pools):
                self._pools.append((name, weakref.ref(pool)))
        self._ensure_thread()

    def track_worker(self, worker: WorkerLike) -> None:
        # The worker's own pool (claims, completions) is private to the worker package;
        # read it defensively until the worker offers pool statistics of its own.
        self.track_pool("worker", getattr(worker, "_pool", None))
        self.track_pool("app", getattr(getattr(worker.app, "_pool", None), "_pool", None))
        with self._lock:
            self._workers.setdefault(worker, {name: 0 for name, _ in self._TOTALS})
        self.sample()
        self._ensure_thread()

    def sample(self) -> None:
        """Copy the current values now (also what the thread does every interval)."""
        with self._lock:
            sizes: dict[str, dict[str, int]] = {}
            live = []
            for name, ref in self._pools:
                pool = ref()
                if pool is None or getattr(pool, "closed", False):
                    continue
                live.append((name, ref))
                try:
                    stats = pool.get_stats()
                except Exception:  # a pool being closed by another thread
                    continue
                agg = sizes.setdefault(name, {"size": 0, "available": 0, "max": 0, "waiting": 0})
                agg["size"] += int(stats.get("pool_size", 0))
                agg["available"] += int(stats.get("pool_available", 0))
                agg["max"] += int(stats.get("pool_max", 0))
                agg["waiting"] += int(stats.get("requests_waiting", 0))
            self._pools = live
            for name in ("app", "worker"):
                agg = sizes.get(name, {"size": 0, "available": 0, "max": 0, "waiting": 0})
                self.pool_connections.labels(name, "in_use").set(max(0, agg["size"] - agg["available"]))
                self.pool_connections.labels(name, "idle").set(agg["available"])
                self.pool_max.labels(name).set(agg["max"])
                self.pool_waiting.labels(name).set(agg["waiting"])
            for worker, seen in list(self._workers.items()):
                stats = getattr(worker, "stats", None)
                for name, counter in self.totals.items():
                    now = int(getattr(stats, name, 0) or 0)
                    if now > seen[name]:
                        counter.inc(now - seen[name])
                    seen[name] = now

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self.interval <= 0:
                return
            self._thread = threading.Thread(target=self._run, name="pgqueue-metrics-sampler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:
                log.exception("sampling pool and worker metrics failed")

    def close(self) -> None:
        self._stop.set()


class Metrics:
    """Prometheus metrics of an app's workers (``app.metrics``).

    Creating it (on first access of ``app.metrics``) makes every worker of the app in
    this process record job metrics. ``registry`` is what to expose: hand it to
    ``prometheus_client.generate_latest`` or ``make_asgi_app``, or call :meth:`serve`.
    Raises ConfigurationError when prometheus-client is not installed.
    """

    def __init__(self, app: MetricsApp) -> None:
        require()
        from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

        self._own = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self._own)  # this process's memory, CPU and fds
        PlatformCollector(registry=self._own)  # python_info
        self.jobs = JobMetrics(self._own)
        self.queues = QueueCollector(lambda: app.dsn)
        self._registry: CollectorRegistry | None = None
        self._servers: list[Server] = []
        app.hooks.add_observer(self.jobs)
        timing.add_sink(self.jobs.on_statement)
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
        self.jobs.sampler.close()
        timing.remove_sink(self.jobs.on_statement)
