"""The worker: claims due jobs, runs them, writes their outcomes, keeps their leases.

A process runs one :class:`Worker`, made of small services: the producer loop below
(claims), the :class:`~.executor.Executor` (runs), the :class:`~.completer.Completer`
(batched, fenced writes), the :class:`~.listener.Listener` (LISTEN wake-ups) and a
:class:`~.ticker.Ticker` for the heartbeat and the elected rescuer.

Delivery is at least once: an attempt whose worker dies before its outcome is written
runs again after the rescue (attempt + 1). While a worker holds a valid lease on a job,
no other worker runs it; a worker that lost its lease can no longer change the job.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from .. import _db, _tracing
from .._maintenance.cron import Scheduler
from .._maintenance.rescuer import Rescuer
from .._settings import check_name
from ..errors import SchemaOutOfDate
from ..job import JobRow
from . import claims, lifecycle, pooled
from .completer import Completer
from .config import RETENTION_INTERVAL_S, WorkerConfig
from .deadline import POOL_BLOCK_DEADLINE_S, WATCHDOG, GuardedPool
from .events import EventHook, WorkerEvent, WorkerStats, emit
from .execution import Execution
from .executor import Executor
from .heartbeat import Heartbeat
from .listener import Listener
from .outcome import Kind, Outcome
from .ticker import Ticker

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("pgqueue.worker")

DB_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
POOL_MAX_SIZE = 4
"""Claims, completions and the ticker each hold at most one connection at a time."""
COMPLETER_FLUSH_S = 10.0
BATCH_WAIT_S = 0.005
"""With a backlog, how long a claim may wait for half the slots to be free."""
PARENT_CHECK_S = 1.0

_LOG_KINDS = {
    Kind.SUCCEEDED: (logging.DEBUG, "succeeded"),
    Kind.RETRY: (logging.INFO, "retry"),
    Kind.SNOOZE: (logging.INFO, "snooze"),
    Kind.DEAD: (logging.WARNING, "dead"),
    Kind.HANDBACK: (logging.INFO, "handback"),
    Kind.CANCELLED: (logging.INFO, "cancelled"),
}


class Worker:
    """A worker process's engine, embeddable in your own program.

    ``run()`` blocks until the worker stops; in the main thread it handles
    SIGTERM/SIGINT (first: graceful stop, second: exit at once). ``start()`` runs it
    in a background thread and ``stop(timeout)`` stops it gracefully from outside.
    ``stats`` holds live counters; ``on_event`` is called for every job state change
    this worker makes (from worker threads; keep it quick).

    Settings are those of :class:`~pgqueue._worker.config.WorkerConfig` (``queues``,
    ``concurrency``, ``poll_interval``, ``lease``, ``heartbeat_interval``,
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
        **settings: Any,
    ) -> None:
        if config is None:
            if concurrency is not None:
                settings["concurrency"] = concurrency
            config = WorkerConfig(queues=tuple(queues) if queues else None, **settings)
        self.app = app
        self.config = config
        self.id = uuid.uuid4()
        self.queues: tuple[str, ...] = tuple(
            check_name(q, "queue") for q in (config.queues or _app_queues(app))
        )
        self.stats = WorkerStats()
        self.on_event = on_event
        self._hooks = app.hooks
        self._dsn = dsn
        self._parent_pid = parent_pid
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._claim_lock = threading.Lock()
        """Held around every claim: the free slots counted and the jobs claimed for them
        stay consistent whether the producer or the listener thread claims."""
        self._parked = False
        """The producer waits with free slots and nothing to do: a NOTIFY is claimed for on
        the listener's thread and connection (see :meth:`_claim_on_listener`)."""
        self._listener_claims = True
        """Off for good after a claim failed on the listener's connection other than by
        losing it (e.g. a ``listen_dsn`` role without the claim's grants)."""
        self._stopped = threading.Event()
        self._notified = False
        self._freed = False
        self._full = False
        self._due_at: float | None = None
        self._due_lock = threading.Lock()
        self._held: dict[int, Execution] = {}
        self._held_lock = threading.Lock()
        self._shutdown_timeout = config.shutdown_timeout
        self._batch_min = max(1, config.concurrency // 2)
        self._thread: threading.Thread | None = None
        self._pool: Any = None
        self._executor = Executor(config.concurrency, self._on_settled, self._on_free)
        self._completer: Completer | None = None
        self._listener: Listener | None = None
        self._ticker = Ticker()
        self._heartbeat = Heartbeat(self.id, self.queues, config.concurrency, config.lease, config.meta)
        self._rescuer = Rescuer()
        self._beating_since: float | None = None
        """Monotonic time since which this process's heartbeats succeed (None: failing)."""
        self._claimer = claims.Claimer(self.id, self.queues, config.lease)
        self._scheduler: Scheduler | None = None

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={','.join(self.queues)} concurrency={self.config.concurrency}>"

    # --- public control -----------------------------------------------------------------
    def run(self) -> None:
        """Run until stopped (signal, :meth:`stop`, or ``stop_when_idle``); then shut down
        gracefully: running jobs get ``shutdown_timeout`` seconds, the rest are handed
        back as queued with their attempt refunded."""
        with lifecycle.stop_signals(lambda _sig: self.request_stop()):
            self._startup()
            try:
                self._loop()
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
                self._loop()
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
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Graceful stop: wait up to ``timeout`` (default ``shutdown_timeout``) for running
        jobs, hand back the rest, and return when the worker has shut down."""
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
        return self._stopping.is_set()

    @property
    def running_jobs(self) -> int:
        """Occupied execution slots right now."""
        return self._executor.busy

    # --- startup / shutdown ------------------------------------------------------------
    def _startup(self) -> None:
        self._stopped.clear()
        dsn = self._dsn or self.app.dsn
        _db.check_reachable(dsn)  # a clear error now, rather than a pool timeout later
        # Every block on a pooled connection is bounded (deadline.py): a half-open
        # connection fails and is replaced instead of hanging a claim or a heartbeat.
        self._pool = GuardedPool(
            _db.make_pool(
                dsn,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                name="pgqueue-worker",
                configure=pooled.configure,
            )
        )
        try:
            with self._pool.connection() as conn:
                self._heartbeat.beat(conn, ())
            self._beating_since = time.monotonic()
        except psycopg.errors.UndefinedTable:
            self._pool.close()
            raise SchemaOutOfDate("the database has no pgqueue schema; run `pgqueue migrate` first") from None
        except BaseException:
            self._pool.close()
            raise
        self._completer = Completer(self._pool, self.id, self._on_written)
        self._completer.start()
        self._executor.start()
        if self.config.listen:
            self._listener = Listener(
                self.config.listen_dsn or dsn,
                self._on_notify,
                on_control=self._on_control,
                on_claim=self._claim_on_listener,
                configure=pooled.configure,
            )
            self._listener.start()
        self._ticker.add(
            "heartbeat", self.config.heartbeat_interval, self._beat, first_in=self.config.heartbeat_interval
        )
        if self.config.rescue:
            self._ticker.add("rescuer", self.config.rescue_interval, self._rescue)
        if self.config.retention:
            self._ticker.add(
                "retention", RETENTION_INTERVAL_S, self._retention, first_in=RETENTION_INTERVAL_S
            )
        if self._parent_pid is not None:
            self._ticker.add("parent", PARENT_CHECK_S, self._check_parent)
        self._ticker.start()
        if self.config.cron and self.app.schedules:
            self._scheduler = Scheduler(self.app, pool=self._pool, owner=self.id)
            self._scheduler.start()
        log.info(
            "worker %s started: queues=%s concurrency=%s pid=%s",
            self.id,
            ",".join(self.queues),
            self.config.concurrency,
            os.getpid(),
        )
        if self._hooks.active:
            self._hooks.worker("worker_started", self)

    def _shutdown(self) -> None:
        self._stopping.set()
        with self._claim_lock:
            pass  # a claim under way on the listener thread has submitted its jobs by now
        if self._hooks.active:
            self._hooks.worker("worker_stopping", self)
        self._heartbeat.stopping = True
        busy = self._executor.busy
        if busy:
            log.info("waiting up to %ss for %s running job(s)", self._shutdown_timeout, busy)
        if not self._executor.wait_idle(self._shutdown_timeout):
            for ex in self._executor.unsettled():
                from .outcome import cancelled, handback

                back = cancelled if ex.cancel_requested else handback
                if ex.settle(back(ex.row.id, ex.row.attempt)):
                    self._on_settled(ex, ex.outcome)  # type: ignore[arg-type]
                self._executor.cancel(ex)
        assert self._completer is not None
        self._completer.stop(COMPLETER_FLUSH_S)
        self._ticker.stop()
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if self._listener is not None:
            self._listener.stop()
        try:
            with self._pool.connection(timeout=5.0) as conn:
                self._heartbeat.deregister(conn)
        except psycopg.Error as exc:
            log.warning("could not deregister worker %s: %s", self.id, exc)
        self._executor.stop()
        self._pool.close()
        log.info("worker %s stopped: %s", self.id, self.stats.snapshot())
        self._stopped.set()

    # --- the producer loop -------------------------------------------------------------
    def _loop(self) -> None:
        cfg = self.config
        backlog = True  # claim once at start
        timer_claim = True
        next_poll = time.monotonic() + cfg.poll_interval
        failures = 0
        while not self._stopping.is_set():
            now = time.monotonic()
            poll_due = now >= next_poll
            with self._due_lock:
                timer_due = self._due_at is not None and now >= self._due_at
            # A limit held due jobs back: a job of ours finishing frees room, claim again.
            freed = self._freed and (cfg.stop_when_idle or self._claimer.throttled)
            if backlog or self._notified or poll_due or timer_due or freed:
                self._full = True  # before the check: a slot freed in between still wakes us
                if self._executor.free_slots() <= 0:
                    self._sleep(None)
                    continue
                self._full = False
                if timer_due:
                    with self._due_lock:
                        self._due_at = None
                if poll_due:
                    next_poll = now + cfg.poll_interval
                timer_claim = timer_claim or poll_due or timer_due
                try:
                    with self._claim_lock:
                        free = self._executor.free_slots()
                        if backlog and 0 < free < self._batch_min and self._executor.busy:
                            # More is due but only a few slots are free: wait a moment for
                            # more to free up, so one round trip claims a batch, not one job.
                            free = self._executor.wait_free(self._batch_min, BATCH_WAIT_S)
                        self._notified = False
                        self._freed = False
                        jobs = self._claim(free) if free > 0 else []
                    short = len(jobs) < free
                    if short and (timer_claim or cfg.stop_when_idle):
                        self._schedule_next_due()
                    failures = 0
                except psycopg.Error as exc:
                    delay = DB_RETRY_S[min(failures, len(DB_RETRY_S) - 1)]
                    failures += 1
                    log.warning("claim failed (%s); retrying in %ss", exc, delay)
                    self._stopping.wait(delay)
                    backlog = True
                    continue
                backlog = not short
                timer_claim = False
                if cfg.stop_when_idle and short and self._idle():
                    log.info("no job due or scheduled and none running: stopping (stop_when_idle)")
                    break
                continue
            self._sleep(next_poll)

    def _sleep(self, next_poll: float | None) -> None:
        timeout: float | None = None
        if next_poll is not None:
            with self._due_lock:
                until = next_poll if self._due_at is None else min(next_poll, self._due_at)
            timeout = max(0.0, until - time.monotonic())
        self._parked = next_poll is not None
        try:
            self._wake.wait(timeout)
        finally:
            self._parked = False
        self._wake.clear()

    def _claim(self, free: int, conn: psycopg.Connection[Any] | None = None) -> list[JobRow]:
        """Claim up to ``free`` jobs and submit them; on ``conn`` (the listener's, bounded
        like a pooled block) or else on a pooled connection. Hold ``_claim_lock``."""
        if conn is None:
            with self._pool.connection() as pooled_conn:
                jobs, traces = self._claim_on(pooled_conn, free)
        else:
            with WATCHDOG.guard(conn, POOL_BLOCK_DEADLINE_S):
                jobs, traces = self._claim_on(conn, free)
        if self._claimer.retry_in is not None:
            self._note_due(self._claimer.retry_in)
        self.stats.claimed += len(jobs)
        for row in jobs:
            ex = Execution(self.app, row, self.app.tasks.get(row.task), self.id)
            if traces:
                ex.trace = traces.get(row.id)
            with self._held_lock:
                self._held[row.id] = ex
            if log.isEnabledFor(logging.DEBUG):
                log.debug("job %s running", row.id, extra=_extra(row))
            if self.on_event is not None:
                emit(self.on_event, WorkerEvent("claimed", row.id, row.task, row.queue, row.attempt))
            if self._hooks.active:
                self._hooks.started(ex)
            self._executor.submit(ex)
        return jobs

    def _claim_on(
        self, conn: psycopg.Connection[Any], free: int
    ) -> tuple[list[JobRow], dict[int, dict[str, str]] | None]:
        jobs = self._claimer.claim(conn, free)
        traces = _tracing.fetch(conn, [r.id for r in jobs]) if jobs and _tracing.enabled() else None
        return jobs, traces

    def _schedule_next_due(self) -> None:
        with self._pool.connection() as conn:
            seconds = claims.next_due(conn, self.queues)
        if seconds is not None:
            self._note_due(seconds)

    def _note_due(self, seconds: float) -> None:
        at = time.monotonic() + seconds
        with self._due_lock:
            if self._due_at is None or at < self._due_at:
                self._due_at = at
        self._wake.set()

    def _idle(self) -> bool:
        assert self._completer is not None
        with self._due_lock:
            scheduled = self._due_at is not None
        return self._executor.busy == 0 and self._completer.pending == 0 and not scheduled

    # --- callbacks from the services ---------------------------------------------------
    def _on_notify(self, payload: str | None) -> bool:
        """A wake-up from the listener. True asks the listener to call
        :meth:`_claim_on_listener` (the producer is parked: nothing else to do)."""
        if payload is None or payload in self.queues:
            self._notified = True
            if payload is not None and self._parked and self._listener_claims and not self._stopping.is_set():
                return True
            self._wake.set()
        return False

    def _claim_on_listener(self, conn: psycopg.Connection[Any]) -> None:
        """Claim for a NOTIFY on the listener's thread and connection while the producer
        is parked (free slots, nothing due). The listener's server process has just
        delivered the notification, so it is awake, and no thread has to be woken before
        the claim goes out: on a 2-core box shared with Postgres each wake-up can wait
        for a scheduler tick. The claim lock keeps free slots and claims consistent with
        the producer's. The producer stays parked when the claim came back short
        (nothing more is due); it takes over when the claim lock is busy, no slot is
        free, the claim was full (more may be due) or failed (it retries, backing off).
        Never raises: a broken connection is the listener's to replace."""
        claimed = False
        if self._claim_lock.acquire(blocking=False):
            try:
                free = self._executor.free_slots()
                if self._parked and not self._stopping.is_set() and free > 0:
                    self._notified = False
                    claimed = len(self._claim(free, conn)) < free
            except Exception as exc:  # the listener thread must live on whatever happens
                if not (isinstance(exc, psycopg.Error) and conn.broken):  # lost: reconnecting
                    self._listener_claims = False
                    log.warning("claims on the listener connection failed (%r); pool claims only", exc)
            finally:
                self._claim_lock.release()
        if not claimed:
            self._notified = True
            self._wake.set()

    def _on_control(self, payload: str) -> None:
        """A message on pgqueue_control (see pgqueue._admin.control): cancel one of our
        jobs, or claim again at once after a pause/resume/limits change of our queues."""
        try:
            message = json.loads(payload)
        except ValueError:
            log.warning("ignoring a malformed control message: %.200s", payload)
            return
        if not isinstance(message, dict):
            return
        if message.get("action") == "cancel":
            job_id = message.get("job_id")
            if isinstance(job_id, int):
                self._cancel_job(job_id)
        elif message.get("queue") in self.queues:
            self._notified = True
            self._wake.set()

    def _cancel_job(self, job_id: int) -> None:
        """Stop a job an operator cancelled, if this worker runs it: async tasks are
        cancelled, sync tasks see ``ctx.cancelled``; it ends ``cancelled`` when it stops."""
        with self._held_lock:
            ex = self._held.get(job_id)
        if ex is None or ex.settled or ex.cancel_requested:
            return
        ex.cancel_requested = True
        log.info("job %s: cancel requested by an operator; stopping it", job_id, extra=_extra(ex.row))
        self._executor.cancel(ex)

    def _on_free(self) -> None:
        self._freed = True
        # Called once per finished job: wake the producer only when it can act on it
        # (it waits for a free slot, or half of them, or needs every free), not once per
        # job, which would pass the GIL back and forth for nothing.
        ex = self._executor
        if (
            self._full
            or ex.busy == 0
            or ex.free_slots() >= self._batch_min
            or self.config.stop_when_idle
            or self._claimer.throttled
        ):
            self._full = False
            self._wake.set()

    def _on_settled(self, ex: Execution, outcome: Outcome) -> None:
        assert self._completer is not None
        if self._hooks.active:
            self._hooks.settled(ex, outcome)
        self._completer.put(outcome)
        if outcome.kind in (Kind.RETRY, Kind.SNOOZE) and outcome.delay is not None and outcome.delay > 0:
            self._note_due(outcome.delay + 0.01)

    def _on_written(self, batch: list[Outcome], applied: set[int]) -> None:
        held = self._held
        owners: list[Execution | None] = []
        with self._held_lock:  # once per batch, not once per job
            for o in batch:
                ex = held.get(o.job_id)
                if ex is not None and ex.outcome is o:
                    del held[o.job_id]
                else:
                    ex = None
                owners.append(ex)
        for o, ex in zip(batch, owners, strict=True):
            row = ex.row if ex is not None else None
            task = row.task if row else "?"
            queue = row.queue if row else "?"
            if o.job_id in applied:
                self._count(o.kind)
                level, kind = _LOG_KINDS[o.kind]
                if log.isEnabledFor(level):
                    detail = o.last_error if o.kind in (Kind.RETRY, Kind.DEAD) else None
                    log.log(
                        level,
                        "job %s %s%s",
                        o.job_id,
                        kind,
                        f" (in {o.delay:.2f}s): {detail}"
                        if o.kind is Kind.RETRY and o.delay is not None
                        else (f": {detail}" if detail else ""),
                        extra={"job_id": o.job_id, "task": task, "queue": queue, "attempt": o.attempt},
                    )
                if self.on_event is not None:
                    emit(self.on_event, WorkerEvent(kind, o.job_id, task, queue, o.attempt, o.last_error))
                if ex is not None and self._hooks.active:
                    self._hooks.written(ex, o)
            else:
                self.stats.fenced_out += 1
                log.warning(
                    "job %s: outcome %s of attempt %s fenced out (this worker no longer holds the job)",
                    o.job_id,
                    o.kind.value,
                    o.attempt,
                    extra={"job_id": o.job_id, "task": task, "queue": queue, "attempt": o.attempt},
                )
                if self.on_event is not None:
                    emit(
                        self.on_event,
                        WorkerEvent("fenced_out", o.job_id, task, queue, o.attempt, o.kind.value),
                    )
        self._freed = True
        self._wake.set()

    def _count(self, kind: Kind) -> None:
        s = self.stats
        if kind is Kind.SUCCEEDED:
            s.succeeded += 1
        elif kind is Kind.RETRY:
            s.retried += 1
        elif kind is Kind.SNOOZE:
            s.snoozed += 1
        elif kind is Kind.DEAD:
            s.dead += 1
        elif kind is Kind.CANCELLED:
            s.cancelled += 1
        else:
            s.handed_back += 1

    # --- periodic services (ticker thread) ---------------------------------------------
    def _beat(self) -> None:
        with self._held_lock:
            held = list(self._held.items())
        try:
            with self._pool.connection() as conn:
                extended = self._heartbeat.beat(conn, [job_id for job_id, _ in held])
        except Exception:
            self._beating_since = None
            raise
        if self._beating_since is None:
            self._beating_since = time.monotonic()
        self.stats.running = self._executor.busy
        for job_id in self._heartbeat.cancel_requested:
            self._cancel_job(job_id)
        for job_id, ex in held:
            if job_id in extended or ex.settled:
                continue
            with self._held_lock:
                still = self._held.get(job_id) is ex
            if still:
                log.warning(
                    "job %s: lease lost (rescued while this worker was unreachable); "
                    "asking the attempt to stop, its outcome will be fenced out",
                    job_id,
                    extra=_extra(ex.row),
                )
                self._executor.cancel(ex)

    def _rescue(self) -> None:
        # After this process could not reach the database (an outage, a restart), live
        # workers elsewhere could not heartbeat either: their leases look expired. Wait
        # until every live worker had two heartbeats to re-extend them, so only the jobs
        # of workers that are really gone are rescued (no second copy of a running job).
        since = self._beating_since
        if since is None or time.monotonic() - since < 2 * self.config.heartbeat_interval:
            return
        with self._pool.connection() as conn:
            rescued = self._rescuer.run_once(conn)
        self.stats.rescued += len(rescued)
        for job in rescued:
            if self.on_event is not None:
                emit(
                    self.on_event, WorkerEvent("rescued", job.id, job.task, job.queue, job.attempt, job.state)
                )

    def _retention(self) -> None:
        from .._admin.prune import run_retention

        with self._pool.connection() as conn:
            run_retention(conn)

    def _check_parent(self) -> None:
        if os.getppid() != self._parent_pid and not self._stopping.is_set():
            log.warning("supervisor %s is gone: stopping", self._parent_pid)
            self.request_stop()


def _app_queues(app: App) -> list[str]:
    """The queues a worker serves by default: every registered task's, plus the default."""
    return sorted({t.options.queue for t in app.tasks.values()} | {app.settings.default_queue})


def _extra(row: JobRow) -> dict[str, Any]:
    return {"job_id": row.id, "task": row.task, "queue": row.queue, "attempt": row.attempt}
