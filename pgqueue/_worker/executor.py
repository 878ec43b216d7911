"""The executor: runs attempts in the worker's execution slots and holds them until their
outcomes are written.

Sync tasks run on a pool of threads (:mod:`.threads`) or, with ``pool="process"`` (the
worker's ``--pool process`` or a task's ``pool=`` option), in pre-forked child processes
(:mod:`.processes`); ``async def`` tasks on one event loop; all share the slots. An
attempt is *held* from its claim until the completer has
written its outcome (:meth:`Executor.forget`): the heartbeat extends the leases of held
jobs, and a cancel finds its job here. The service's own thread is the deadline
watchdog of sync attempts with a ``timeout``.

Per-task ``timeout``: an async task is cancelled at its deadline; a sync task cannot be
interrupted (Python cannot kill a thread), so at its deadline ``ctx.cancelled`` turns true
and the attempt is marked timed out; it keeps its slot and its lease until the function
returns, and only then is it failed with a TimeoutError (retried or dead by the usual
rules; whatever it returned is dropped). No attempt of a job starts while an earlier one
may still run. In the process pool the deadline is hard: the child is killed and replaced,
and the attempt fails with TimeoutError once it is gone (``soft_timeout`` raises inside
the task first).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import outcome as oc
from .asyncrun import run_async
from .execution import Execution
from .executor_config import ASYNC_STOP_S, STOP_PROCESSES_S, ExecutorConfig
from .processes import ProcessRunner
from .service import Service
from .threads import ThreadRunner

if TYPE_CHECKING:
    import uuid

    from ..app import App

log = logging.getLogger("pgqueue.worker")

Settled = Callable[[Execution, oc.Outcome], None]
"""Receives each attempt's first outcome, from whichever thread settled it."""
Freed = Callable[[int, int], None]
"""Called with (busy, free) slots whenever a slot frees."""


class Executor(Service):
    """``config.concurrency`` slots; ``on_settled`` receives each attempt's first outcome
    and ``on_free(busy, free)`` is called whenever a slot frees."""

    name = "executor"

    def __init__(
        self,
        config: ExecutorConfig,
        on_settled: Settled,
        on_free: Freed,
        *,
        app: App | None = None,
        worker_id: uuid.UUID | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.concurrency = config.concurrency
        self._app = app
        self._on_settled = on_settled
        self._on_free = on_free
        self._busy = 0
        self._lock = threading.Condition()
        self._notify_free = 1
        """Free slots at which a release notifies ``_lock`` waiters (raised by wait_free)."""
        self._running: dict[int, Execution] = {}
        self._futures: dict[int, concurrent.futures.Future[None]] = {}
        self._held: dict[int, Execution] = {}
        self._held_lock = threading.Lock()
        self._threads = ThreadRunner(config.concurrency, self._settle, self._release)
        self._processes: ProcessRunner | None = None
        self._in_processes: set[int] = set()
        if app is not None and worker_id is not None and _uses_processes(config, app):
            n = config.children
            self._processes = ProcessRunner(
                app, worker_id, n, -(-config.concurrency // n), self._settle, self._release,
                on_started=self._process_started, max_tasks=config.max_tasks_per_child,
                max_memory_mb=config.max_memory_per_child,
            )  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: list[tuple[float, int, Execution]] = []
        self._draining = False
        self._seq = itertools.count()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._threads.start()
        if self._processes is not None:
            self._processes.start()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="pgqueue-async", daemon=True).start()
        super().start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the runner threads and the loop (threads still inside a task are left behind:
        they are daemon threads and die with the process)."""
        if self._thread is None:
            return
        self._threads.stop()
        if self._processes is not None:
            self._processes.stop()
        if self._loop is not None:
            if self._app is not None:
                closing = asyncio.run_coroutine_threadsafe(self._app._aclose_pool_here(), self._loop)
                try:
                    closing.result(timeout=5.0)
                except Exception as exc:  # a pool that cannot close cleanly is dropped
                    log.debug("could not close the async pool of the worker's loop: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
        super().stop(timeout)

    # --- slots ----------------------------------------------------------------------------
    @property
    def busy(self) -> int:
        return self._busy

    def free_slots(self) -> int:
        return self.concurrency - self._busy

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until no slot is busy or ``timeout`` passes; True when idle."""
        with self._lock:
            return self._lock.wait_for(lambda: self._busy == 0, timeout)

    def wait_free(self, slots: int, timeout: float) -> int:
        """Block until at least ``slots`` slots are free, nothing runs, or ``timeout``
        passes; returns the free slots."""
        with self._lock:
            self._notify_free = slots
            try:
                self._lock.wait_for(
                    lambda: self.concurrency - self._busy >= slots or self._busy == 0, timeout
                )
            finally:
                self._notify_free = 1
            return self.concurrency - self._busy

    @property
    def processes(self) -> ProcessRunner | None:
        """The process pool (None when no task runs in one)."""
        return self._processes

    def unsettled(self) -> list[Execution]:
        with self._lock:
            return [e for e in self._running.values() if not e.settled]

    # --- held attempts (claim to written outcome) -----------------------------------------
    @property
    def holding(self) -> int:
        """Attempts claimed whose outcome is not written yet."""
        return len(self._held)

    def held(self) -> list[tuple[int, Execution]]:
        with self._held_lock:
            return list(self._held.items())

    def forget(self, batch: Sequence[oc.Outcome]) -> list[Execution | None]:
        """Release the attempts whose outcomes in ``batch`` were written; returns each
        outcome's attempt (None when it is not the one this executor holds)."""
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
        return owners

    def cancel_job(self, job_id: int) -> None:
        """Stop a job an operator cancelled, if this worker runs it: async tasks are
        cancelled, sync tasks see ``ctx.cancelled``; it ends ``cancelled`` when it stops."""
        with self._held_lock:
            ex = self._held.get(job_id)
        if ex is None or ex.settled or ex.cancel_requested:
            return
        ex.cancel_requested = True
        log.info("job %s: cancel requested by an operator; stopping it", job_id, extra=ex.extra())
        self.cancel(ex)

    def lease_lost(self, job_id: int, ex: Execution) -> None:
        """The heartbeat found ``ex``'s lease gone (rescued while this worker was
        unreachable): ask it to stop; its outcome will be fenced out."""
        if ex.settled:
            return
        with self._held_lock:
            still = self._held.get(job_id) is ex
        if still:
            log.warning(
                "job %s: lease lost (rescued while this worker was unreachable); "
                "asking the attempt to stop, its outcome will be fenced out",
                job_id,
                extra=ex.extra(),
            )
            self.cancel(ex)

    def hand_back(self, timeout: float, *, linger: bool) -> int:
        """Shutdown: wait up to ``timeout`` for running attempts, then ask the rest to stop
        and hand each back (refunded; ``cancelled`` when an operator asked) once it has
        really stopped: an async attempt when its cancellation is through, a sync one when
        its thread returns. Never before: a job is not handed back while its code runs.

        ``linger``: wait for every thread to return (an embedded worker: the process goes
        on, so the thread would too), heartbeats keeping their leases meanwhile. Without
        it (``pgqueue work``, whose process exits next and ends the threads), async
        attempts get ASYNC_STOP_S and the sync attempts still running are left to the
        supervisor's hand-on or the rescue; returns how many were left.
        """
        if self.wait_idle(timeout):
            return 0
        self._draining = True
        waiting = self.unsettled()
        for ex in waiting:
            ex.handing_back = True
            self.cancel(ex)
        stuck = [ex for ex in self.unsettled() if not self._stoppable(ex)]
        if stuck:
            log.warning(
                "%s sync job(s) still running after the shutdown timeout: their threads cannot be "
                "stopped, %s",
                len(stuck),
                "they keep their leases and are handed back when they return"
                if linger
                else "they are handed on once this process has exited (by its supervisor, or "
                "rescued when their leases expire)",
            )
        # A cancelled async attempt frees its slot at once but settles its hand-back when
        # its coroutine has unwound, a killed pool child's when it is reaped: wait for
        # that, so the completer's flush writes it.
        waiting = [ex for ex in waiting if self._stoppable(ex)]
        bound = STOP_PROCESSES_S if any(not ex.is_async for ex in waiting) else ASYNC_STOP_S
        with self._lock:
            self._lock.wait_for(lambda: all(ex.settled for ex in waiting), bound)
        if linger:
            self.wait_idle(None)
            return 0
        return len([ex for ex in self.unsettled() if not self._stoppable(ex)])

    def _stoppable(self, ex: Execution) -> bool:
        """Async attempts and those in the process pool can be stopped; threads cannot."""
        return ex.is_async or id(ex) in self._in_processes

    # --- running --------------------------------------------------------------------------
    def submit(self, ex: Execution) -> None:
        with self._held_lock:
            self._held[ex.row.id] = ex
        with self._lock:
            self._busy += 1
            self._running[id(ex)] = ex
        if ex.is_async:
            assert self._loop is not None
            fut = asyncio.run_coroutine_threadsafe(self._run_async(ex), self._loop)
            with self._lock:
                self._futures[id(ex)] = fut
            fut.add_done_callback(lambda _f, ex=ex: self._release(ex))  # type: ignore[misc]
            return
        if self._processes is not None and self._in_process(ex):
            with self._lock:
                self._in_processes.add(id(ex))
            ex.deadline = None  # counted from its start in a child (_process_started)
            self._processes.submit(ex)
            return
        if ex.deadline is not None:
            self._push_deadline(ex, ex.deadline)
        self._threads.submit(ex)

    def _in_process(self, ex: Execution) -> bool:
        task = ex.task
        if task is None:
            return False  # fails at once with UnknownTask, on a thread
        return (task.options.pool or self.config.pool) == "process"

    def _push_deadline(self, ex: Execution, deadline: float) -> None:
        with self._lock:
            first = not self._deadlines or deadline < self._deadlines[0][0]
            heapq.heappush(self._deadlines, (deadline, next(self._seq), ex))
        if first:
            self.kick()

    def _process_started(self, ex: Execution) -> None:
        timeout = ex.task.options.timeout if ex.task is not None else None
        if timeout is not None:
            ex.deadline = ex.started + timeout
            self._push_deadline(ex, ex.deadline)

    def cancel(self, ex: Execution) -> None:
        """Ask an attempt to stop: async tasks are cancelled, sync ones see ctx.cancelled,
        those in the process pool are stopped (their child killed if they run)."""
        ex.cancel.set()
        with self._lock:
            fut = self._futures.get(id(ex))
            pooled = id(ex) in self._in_processes
        if fut is not None:
            fut.cancel()
        if pooled and self._processes is not None:
            self._processes.stop_attempt(ex)

    def _release(self, ex: Execution) -> None:
        with self._lock:
            self._busy -= 1
            self._running.pop(id(ex), None)
            self._futures.pop(id(ex), None)
            self._in_processes.discard(id(ex))
            # Wake waiters only when what they wait for can be true: a producer waiting
            # for half the slots is not woken (and the GIL not passed) once per job.
            if self._busy == 0 or self.concurrency - self._busy >= self._notify_free:
                self._lock.notify_all()
            busy = self._busy
        self._on_free(busy, self.concurrency - busy)

    async def _run_async(self, ex: Execution) -> None:
        self._settle(ex, await run_async(ex))

    def _settle(self, ex: Execution, outcome: oc.Outcome | None) -> None:
        if outcome is not None and ex.settle(outcome):
            self._on_settled(ex, outcome)
            if self._draining:  # hand_back waits for settlements (never on the hot path)
                with self._lock:
                    self._lock.notify_all()

    # --- the deadline watchdog (this service's thread) ------------------------------------
    def run_once(self) -> float | None:
        """Fire every sync deadline that has passed; seconds until the next one."""
        while True:
            with self._lock:
                if not self._deadlines:
                    return None
                wait = self._deadlines[0][0] - time.monotonic()
                if wait > 0:
                    return wait
                _, _, ex = heapq.heappop(self._deadlines)
            if not ex.settled:
                if ex.deadline is not None and ex.deadline > time.monotonic() + 0.001:
                    self._push_deadline(ex, ex.deadline)  # restarted in a pool child
                    continue
                try:
                    self._timed_out(ex)
                except Exception:
                    log.exception("timeout handling failed for job %s", ex.row.id)

    def _timed_out(self, ex: Execution) -> None:
        timeout = ex.task.options.timeout if ex.task is not None else None
        # Recorded before the cancel flag goes up: a task that sees the flag and returns
        # at once still ends as timed out. The outcome is settled when the thread returns,
        # not now: until then the attempt keeps its slot and its lease (the heartbeat goes
        # on), so no retry can start while this one still runs.
        ex.expired = TimeoutError(f"task {ex.row.task!r} exceeded its timeout of {timeout}s")
        with self._lock:
            pooled = id(ex) in self._in_processes
        if pooled and self._processes is not None:
            log.warning(
                "job %s timed out after %ss; killing its process pool child",
                ex.row.id, timeout, extra=ex.extra(),
            )  # fmt: skip
            self._processes.stop_attempt(ex)
            return
        ex.cancel.set()
        log.warning(
            "job %s timed out after %ss; ctx.cancelled is set, and the attempt keeps its slot and "
            "lease until its thread returns (sync code cannot be interrupted; --pool process can)",
            ex.row.id,
            timeout,
            extra=ex.extra(),
        )


def _uses_processes(config: ExecutorConfig, app: App) -> bool:
    """Whether any sync task of ``app`` runs in the process pool."""
    for task in app.tasks.values():
        if task.options.pool == "process" or (task.options.pool is None and config.pool == "process"):
            return True
    return False
