"""The worker: wiring of the services that claim, run, complete and maintain jobs.

Hot path: the :class:`~.producer.Producer` claims due jobs (woken by the
:class:`~.notifier.Notifier`'s LISTEN) and hands them to the
:class:`~.executor.Executor`, which runs them and settles each attempt's outcome; the
:class:`~.completer.Completer` writes outcomes in batches behind their fence; the
:class:`~.reporter.Reporter` logs, counts and reports them. The
:class:`~.heartbeat.LeaseKeeper` keeps the leases of held jobs, the
:class:`~pgqueue._maintenance.service.Maintenance` service rescues, prunes and fires cron
ticks. See docs/architecture.md.

Delivery is at least once: an attempt whose worker dies before its outcome is written
runs again after the rescue (attempt + 1). While a worker holds a valid lease on a job,
no other worker runs it; a worker that lost its lease can no longer change the job.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from .. import _db
from .._maintenance.service import Maintenance
from .._settings import check_name
from ..errors import SchemaOutOfDate
from . import lifecycle, pooled
from .completer import Completer
from .config import WorkerConfig
from .deadline import GuardedPool
from .events import EventHook, WorkerStats
from .executor import Executor
from .heartbeat import Heartbeat, LeaseKeeper
from .notifier import Notifier
from .producer import Producer
from .reporter import Reporter
from .service import Service
from .wakeup import Wake

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("pgqueue.worker")

POOL_MAX_SIZE = 4
"""Claims, completions, the heartbeat and maintenance each hold at most one connection."""


class Worker:
    """A worker process's engine, embeddable in your own program.

    ``run()`` blocks until the worker stops; in the main thread it handles
    SIGTERM/SIGINT (first: graceful stop, second: exit at once). ``start()`` runs it
    in a background thread and ``stop(timeout)`` stops it gracefully from outside.
    ``stats`` holds live counters; ``on_event`` is called for every job state change
    this worker makes (from worker threads; keep it quick).

    Settings are those of :class:`~pgqueue._worker.config.WorkerConfig` (``queues``,
    ``concurrency``, ``pool``, ``pool_size``, ``max_tasks_per_child``,
    ``max_memory_per_child``, ``poll_interval``, ``lease``, ``heartbeat_interval``,
    ``rescue_interval``, ``shutdown_timeout``, ``listen``, ``listen_dsn``,
    ``stop_when_idle``). ``dsn`` defaults to the app's.
    Raises ConfigurationError for bad settings and SchemaOutOfDate when the database
    has no pgqueue schema.
    """

    def __init__(
        self,
        app: App,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        dsn: str | None = None,
        config: WorkerConfig | None = None,
        on_event: EventHook | None = None,
        parent_pid: int | None = None,
        worker_id: uuid.UUID | None = None,
        exit_after_run: bool = False,
        **settings: Any,
    ) -> None:
        if config is None:
            if concurrency is not None:
                settings["concurrency"] = concurrency
            config = WorkerConfig(queues=tuple(queues) if queues else None, **settings)
        self.app = app
        self.config = config
        self.id = worker_id or uuid.uuid4()
        self.exit_after_run = exit_after_run
        """Set by ``pgqueue work``: its process exits right after :meth:`run`, which ends
        sync attempts that outlive the shutdown timeout (they are handed on afterwards)."""
        self.queues: tuple[str, ...] = tuple(
            check_name(q, "queue") for q in (config.queues or _app_queues(app))
        )
        self.stats = WorkerStats()
        self.on_event = on_event
        self._dsn = dsn
        self._parent_pid = parent_pid
        self._shutdown_timeout = config.shutdown_timeout
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.wake = Wake(max(1, config.concurrency // 2), eager=config.stop_when_idle)
        self.reporter = Reporter(app.hooks, on_event, self.stats, self.wake)
        self.executor = Executor(
            config.executor, self.reporter.settled, self.wake.slot_freed, app=app, worker_id=self.id
        )
        self._services: list[Service] = []
        self.notifier: Notifier | None = None

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={','.join(self.queues)} concurrency={self.config.concurrency}>"

    # --- public control -----------------------------------------------------------------
    def run(self) -> None:
        """Run until stopped (signal, :meth:`stop`, or ``stop_when_idle``); then shut down
        gracefully: running jobs get ``shutdown_timeout`` seconds, the rest are asked to
        stop and handed back as queued with their attempt refunded once they have stopped
        (see :meth:`stop`; with ``exit_after_run``, sync attempts still running are left to
        the process exit and handed on by the supervisor or the rescue)."""
        with lifecycle.stop_signals(lambda _sig: self.request_stop()):
            self._startup()
            try:
                self.producer.run()
            finally:
                self._shutdown()

    def start(self) -> None:
        """Run the worker in a background thread; returns once it is registered."""
        if self._thread is not None:
            return
        ready = threading.Event()
        errors: list[BaseException] = []

        def target() -> None:
            try:
                self._startup()
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            try:
                self.producer.run()
            finally:
                self._shutdown()

        self._thread = threading.Thread(target=target, name=f"pgqueue-worker-{self.id.hex[:8]}", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread = None
            raise errors[0]

    def request_stop(self) -> None:
        """Stop claiming and begin the graceful shutdown; returns at once."""
        self.wake.stop()

    def stop(self, timeout: float | None = None) -> None:
        """Graceful stop: wait up to ``timeout`` (default ``shutdown_timeout``) for running
        jobs, then ask the rest to stop (``ctx.cancelled``; async tasks are cancelled) and
        hand each back once its code has really stopped; returns when the worker has shut
        down. A sync task cannot be interrupted: ``stop`` waits for its thread to return,
        keeping its lease meanwhile, so no other worker starts the job while it still runs
        here (no double execution)."""
        if timeout is not None:
            self._shutdown_timeout = timeout
        self.request_stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:
            self._stopped.wait()

    @property
    def stopping(self) -> bool:
        return self.wake.stopping

    @property
    def running_jobs(self) -> int:
        """Occupied execution slots right now."""
        return self.executor.busy

    @property
    def _listener(self) -> Any:
        """The LISTEN connection's thread (older tests wait on ``_listener.connected``;
        prefer ``worker.notifier.wait_connected``)."""
        return self.notifier.listener if self.notifier is not None else None

    # --- wiring -------------------------------------------------------------------------
    def _startup(self) -> None:
        self._stopped.clear()
        cfg = self.config
        dsn = self._dsn or self.app.dsn
        _db.check_reachable(dsn)  # a clear error now, rather than a pool timeout later
        # Every block on a pooled connection is bounded (deadline.py): a half-open
        # connection fails and is replaced instead of hanging a claim or a heartbeat.
        raw = _db.make_pool(
            dsn, min_size=1, max_size=POOL_MAX_SIZE, name="pgqueue-worker", configure=pooled.configure
        )
        self._pool = pool = GuardedPool(raw)
        # What this process can run rides in its registry row from the first beat on (and
        # again if the row is re-inserted after being pruned): `pgqueue tasks ls`, doctor.
        meta = {**cfg.meta, "tasks": sorted(self.app.tasks), "pool": cfg.executor.pool}
        heartbeat = Heartbeat(self.id, self.queues, cfg.concurrency, cfg.lease, meta)
        self.lease_keeper = LeaseKeeper(cfg.heartbeat, heartbeat, pool, self.executor, self.stats)
        try:
            self.lease_keeper.register(give_up=lambda: self.wake.stopping)
        except psycopg.errors.UndefinedTable:
            pool.close()
            raise SchemaOutOfDate("the database has no pgqueue schema; run `pgqueue migrate` first") from None
        except BaseException:
            pool.close()
            raise
        self.completer = Completer(pool, self.id, self.reporter.written, cfg.completer)
        self.reporter.bind(self.completer, self.executor)
        self.producer = Producer(
            cfg.producer, app=self.app, worker_id=self.id, queues=self.queues, lease_s=cfg.lease,
            pool=pool, executor=self.executor, reporter=self.reporter, wake=self.wake,
        )  # fmt: skip
        services: list[Service] = [self.completer, self.executor]
        if cfg.listen:
            self.notifier = Notifier(
                cfg.notifier,
                dsn,
                self.queues,
                self.wake,
                self.producer.claim_on,
                self.executor.cancel_job,
                scheduled=self.producer.scheduled,
            )
            services.append(self.notifier)
        self.maintenance = Maintenance(
            cfg.maintenance, app=self.app, pool=pool, worker_id=self.id,
            heartbeat_interval=cfg.heartbeat_interval,
            healthy_since=lambda: self.lease_keeper.healthy_since, on_rescued=self.reporter.rescued,
        )  # fmt: skip
        services += [self.lease_keeper, self.maintenance]
        if self._parent_pid is not None:
            services.append(lifecycle.ParentWatch(self._parent_pid, self.request_stop))
        for service in services:
            service.start()
        self._services = services
        log.info(
            "worker %s started: queues=%s concurrency=%s pid=%s",
            self.id, ",".join(self.queues), cfg.concurrency, os.getpid(),
        )  # fmt: skip
        if self.app.hooks.active:
            self.app.hooks.worker("worker_started", self)

    def _shutdown(self) -> None:
        self.wake.stop()
        self.producer.quiesce()
        self.maintenance.quiesce()  # no more schedule ticks from a worker that is stopping
        if self.app.hooks.active:
            self.app.hooks.worker("worker_stopping", self)
        self.lease_keeper.mark_stopping()
        busy = self.executor.busy
        if busy:
            log.info("waiting up to %ss for %s running job(s)", self._shutdown_timeout, busy)
        self.executor.hand_back(self._shutdown_timeout, linger=not self.exit_after_run)
        # The completer flushes first (outcomes still reach the database), the executor's
        # runner threads go last.
        for service in self._services:
            if service is not self.executor:
                service.stop()
        try:
            with self._pool.connection(timeout=5.0) as conn:
                self.lease_keeper.deregister(conn)
        except psycopg.Error as exc:
            log.warning("could not deregister worker %s: %s", self.id, exc)
        self.executor.stop()
        self._pool.close()
        log.info("worker %s stopped: %s", self.id, self.stats.snapshot())
        self._stopped.set()


def _app_queues(app: App) -> list[str]:
    """The queues a worker serves by default: every registered task's, plus the default."""
    return sorted({t.options.queue for t in app.tasks.values()} | {app.settings.default_queue})
