"""The scrape-time collectors of ``/metrics``: queue depth and database gauges read from
PostgreSQL (:class:`QueueCollector`), and the ``process_*`` metrics of a supervisor and its
worker children added up (:class:`ProcessTreeCollector`). :mod:`pgqueue._metrics` wires them."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.rows import class_row

from . import _db
from ._admin.doctor import UNRUNNABLE_AGE_S
from ._sql import query

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

log = logging.getLogger("pgqueue.metrics")

QUEUE_STATS_TTL_S: Final = 10.0
"""Queue depth is read from the database at most this often (at scrape time)."""


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A row of metrics_queues.sql: one queue's jobs by state."""

    queue: str
    queued: int
    """Due now."""
    scheduled: int
    """Due later."""
    running: int
    waiting: int
    dead: int
    oldest_age_s: float
    """Age of the oldest due job (0 when none waits)."""
    paused: bool


@dataclass(frozen=True, slots=True)
class DatabaseRow:
    """The row of metrics_database.sql: workers by status and the xmin horizon's age."""

    alive: int
    stopping: int
    stale: int
    xmin_age_s: float


@dataclass(frozen=True, slots=True)
class UnrunnableRow:
    """A row of doctor_unrunnable.sql: old queued jobs of a task no live worker can run."""

    queue: str
    task: str
    jobs: int
    oldest_age_s: float


class QueueCollector:
    """``pgqueue_queue_*``, ``pgqueue_workers`` and ``pgqueue_xmin_horizon_age_seconds``
    gauges read from the database at scrape time, cached for ``ttl`` seconds; a failed
    read is logged and the last values are served again.

    Every queue seen once keeps being reported (zeros when it is empty), and so does every
    queue of the last day's history. With ``history`` (the default), each read also calls
    :func:`pgqueue.dashboard.history.tick` with the depth just read: whichever exporter
    gets the history lock rolls up finished jobs, the others skip at once.
    """

    def __init__(self, dsn: Callable[[], str], ttl: float = QUEUE_STATS_TTL_S, history: bool = True) -> None:
        self._dsn = dsn
        self.ttl = ttl
        self.history = history
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._rows: list[QueueRow] = []
        self._db: DatabaseRow | None = None
        self._known: set[str] = set()
        self._unrunnable: list[UnrunnableRow] = []
        self._read_at: float | None = None
        self.reads = 0

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        rows, db = self._fresh_rows()
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
        for row in rows:
            for state, value in (
                ("queued", row.queued),
                ("scheduled", row.scheduled),
                ("running", row.running),
                ("waiting", row.waiting),
                ("dead", row.dead),
            ):
                depth.add_metric((row.queue, state), float(value))
            age.add_metric((row.queue,), float(row.oldest_age_s))
            paused.add_metric((row.queue,), 1.0 if row.paused else 0.0)
        yield depth
        yield age
        yield paused
        unrunnable = GaugeMetricFamily(
            "pgqueue_jobs_unrunnable",
            "Queued jobs older than doctor's unrunnable age (5 m) that no live worker can run "
            "(none serving their queue registers their task), from the database",
            labels=("queue", "task"),
        )
        for u in self._unrunnable:
            unrunnable.add_metric((u.queue, u.task), float(u.jobs))
        yield unrunnable
        if db is not None:
            workers = GaugeMetricFamily(
                "pgqueue_workers",
                "Registered worker processes by status (alive, stopping, stale), from the database",
                labels=("status",),
            )
            for status, n in (("alive", db.alive), ("stopping", db.stopping), ("stale", db.stale)):
                workers.add_metric((status,), float(n))
            yield workers
            yield GaugeMetricFamily(
                "pgqueue_xmin_horizon_age_seconds",
                "Age of the oldest transaction pinning this database's xmin horizon (0 when none)",
                value=float(db.xmin_age_s),
            )

    def describe(self) -> list[Metric]:
        return []  # registering must not query the database

    def _fresh_rows(self) -> tuple[list[QueueRow], DatabaseRow | None]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self.ttl:
                return self._rows, self._db
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = _db.connect(self._dsn(), application_name="pgqueue-metrics")
                conn = self._conn
                queues = conn.cursor(row_factory=class_row(QueueRow))
                rows = queues.execute(query("metrics_queues")).fetchall()
                database = conn.cursor(row_factory=class_row(DatabaseRow))
                self._db = database.execute(query("metrics_database")).fetchone()
                unrunnable = conn.cursor(row_factory=class_row(UnrunnableRow))
                self._unrunnable = unrunnable.execute(
                    query("doctor_unrunnable"), {"age_s": UNRUNNABLE_AGE_S}
                ).fetchall()
                self.reads += 1
                seen = {r.queue for r in rows}
                self._known |= seen
                # A queue seen before and gone from every source now (its history aged out
                # or the exporter restarted since) still reads 0 while this process lives.
                rows += [QueueRow(q, 0, 0, 0, 0, 0, 0.0, False) for q in sorted(self._known - seen)]
                self._rows = sorted(rows, key=lambda r: r.queue)
                if self.history:
                    self._record_history()
            except psycopg.Error as exc:
                log.warning("could not read queue depth for /metrics: %s", exc)
                self._close_conn()
            self._read_at = now
            return self._rows, self._db

    def _record_history(self) -> None:
        from .dashboard import history

        assert self._conn is not None
        try:
            history.tick(self._conn, [asdict(r) for r in self._rows])
        except psycopg.Error as exc:  # its transaction is rolled back; depth is still served
            log.warning("could not record queue history: %s", exc)

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


class ProcessTreeCollector:
    """``process_*`` metrics (prometheus-client's process collector) of the supervisor and
    its live worker children together, as one process would report them: resident and
    virtual memory, open fds and CPU seconds added up; start time and fd limit the
    supervisor's. Children are the pids of ``path``'s files whose parent is this process,
    so a dead child no longer counts (CPU seconds then drop: Prometheus reads that as a
    counter reset)."""

    _SUMMED: Final = frozenset({"process_resident_memory_bytes", "process_virtual_memory_bytes",
                                "process_open_fds", "process_cpu_seconds"})

    def __init__(self, path: str, proc: str = "/proc") -> None:
        self.path = path
        self.proc = proc

    def _children(self) -> list[int]:
        me = os.getpid()
        pids = set()
        for name in os.listdir(self.path):
            stem = name.rsplit(".", 1)[0]
            tail = stem.rsplit("_", 1)[-1]
            if tail.isdigit():
                pids.add(int(tail))
        out = []
        for pid in sorted(pids):
            try:
                with open(os.path.join(self.proc, str(pid), "stat"), "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2:].split()
            if int(fields[1]) == me:  # field 4 of stat: the parent pid
                out.append(pid)
        return out

    def collect(self) -> Iterator[Metric]:
        from prometheus_client import ProcessCollector

        families: dict[str, Metric] = {}
        for pid in [os.getpid(), *self._children()]:
            collector = ProcessCollector(pid=functools.partial(int, pid), proc=self.proc, registry=None)
            for family in collector.collect():
                if family.name not in families:
                    families[family.name] = family
                elif family.name in self._SUMMED and family.samples:
                    first = families[family.name]
                    total = first.samples[0].value + family.samples[0].value
                    first.samples[0] = first.samples[0]._replace(value=total)
        yield from families.values()

    def describe(self) -> list[Metric]:
        return []
