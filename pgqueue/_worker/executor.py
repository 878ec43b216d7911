"""Runs attempts: sync tasks on a pool of threads, ``async def`` tasks on one event loop.

Both kinds share the worker's execution slots. Per-task ``timeout``: an async task is
cancelled at its deadline; a sync task cannot be interrupted (Python cannot kill a
thread), so at its deadline the attempt is failed with a TimeoutError (retried or dead
by the usual rules), ``ctx.cancelled`` turns true, and the thread keeps its slot until
the function returns; whatever it returns then is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable

from . import outcome as oc
from .execution import Execution

log = logging.getLogger("pgqueue.worker")

Settled = Callable[[Execution, oc.Outcome], None]


class Executor:
    """``concurrency`` slots; ``on_settled`` receives each attempt's first outcome
    (from whichever thread settled it) and ``on_free`` is called whenever a slot frees."""

    def __init__(self, concurrency: int, on_settled: Settled, on_free: Callable[[], None]) -> None:
        self.concurrency = concurrency
        self._on_settled = on_settled
        self._on_free = on_free
        self._busy = 0
        self._lock = threading.Condition()
        self._notify_free = 1
        """Free slots at which a release notifies ``_lock`` waiters (raised by wait_free)."""
        self._running: dict[int, Execution] = {}
        self._futures: dict[int, concurrent.futures.Future[None]] = {}
        self._sync_q: queue.SimpleQueue[Execution | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._watchdog = _Watchdog(self._timed_out)
        self._started = False

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for i in range(self.concurrency):
            t = threading.Thread(target=self._sync_runner, name=f"pgqueue-run-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="pgqueue-async", daemon=True)
        self._loop_thread.start()
        self._watchdog.start()

    def stop(self) -> None:
        """Stop the runner threads and the loop (threads still inside a task are left behind:
        they are daemon threads and die with the process)."""
        if not self._started:
            return
        self._started = False
        for _ in self._threads:
            self._sync_q.put(None)
        self._threads.clear()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._watchdog.stop()

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

    def unsettled(self) -> list[Execution]:
        with self._lock:
            return [e for e in self._running.values() if not e.settled]

    # --- running --------------------------------------------------------------------------
    def submit(self, ex: Execution) -> None:
        with self._lock:
            self._busy += 1
            self._running[id(ex)] = ex
        if ex.deadline is not None and not ex.is_async:
            self._watchdog.add(ex)
        if ex.is_async:
            assert self._loop is not None
            fut = asyncio.run_coroutine_threadsafe(self._run_async(ex), self._loop)
            with self._lock:
                self._futures[id(ex)] = fut
            fut.add_done_callback(lambda _f, ex=ex: self._release(ex))  # type: ignore[misc]
        else:
            self._sync_q.put(ex)

    def cancel(self, ex: Execution) -> None:
        """Ask an attempt to stop: async tasks are cancelled, sync ones see ctx.cancelled."""
        ex.cancel.set()
        with self._lock:
            fut = self._futures.get(id(ex))
        if fut is not None:
            fut.cancel()

    def _release(self, ex: Execution) -> None:
        with self._lock:
            self._busy -= 1
            self._running.pop(id(ex), None)
            self._futures.pop(id(ex), None)
            # Wake waiters only when what they wait for can be true: a producer waiting
            # for half the slots is not woken (and the GIL not passed) once per job.
            if self._busy == 0 or self.concurrency - self._busy >= self._notify_free:
                self._lock.notify_all()
        self._on_free()

    def _settle(self, ex: Execution, outcome: oc.Outcome | None) -> None:
        if outcome is not None and ex.settle(outcome):
            self._on_settled(ex, outcome)

    def _sync_runner(self) -> None:
        while True:
            ex = self._sync_q.get()
            if ex is None:
                return
            outcome: oc.Outcome | None = None
            try:
                outcome = ex.success(ex.call())
            except BaseException as exc:  # a task's SystemExit fails its attempt, not the worker
                outcome = ex.failure(exc)
            finally:
                self._settle(ex, outcome)
                self._release(ex)

    async def _run_async(self, ex: Execution) -> None:
        outcome: oc.Outcome | None = None
        timeout = ex.task.options.timeout if ex.task is not None else None
        try:
            if timeout is None:
                value = await ex.call()
            else:
                value = await asyncio.wait_for(ex.call(), timeout)
            outcome = ex.success(value)
        except asyncio.CancelledError:
            outcome = None if ex.settled else ex.failure(TimeoutError("attempt cancelled by the worker"))
        except TimeoutError as exc:
            err = exc
            if timeout is not None and time.monotonic() - ex.started >= timeout:
                err = TimeoutError(f"task {ex.row.task!r} exceeded its timeout of {timeout}s")
            outcome = ex.failure(err)
        except BaseException as exc:
            outcome = ex.failure(exc)
        self._settle(ex, outcome)

    def _timed_out(self, ex: Execution) -> None:
        if ex.settled:
            return
        timeout = ex.task.options.timeout if ex.task is not None else None
        outcome = ex.failure(TimeoutError(f"task {ex.row.task!r} exceeded its timeout of {timeout}s"))
        # Settle before raising the cancel flag: a task that sees the flag and returns at
        # once must not get its normal outcome recorded first.
        self._settle(ex, outcome)
        ex.cancel.set()
        log.warning(
            "job %s timed out after %ss; its thread keeps running (sync code cannot be interrupted) "
            "and holds a slot until it returns",
            ex.row.id,
            timeout,
            extra={
                "job_id": ex.row.id,
                "task": ex.row.task,
                "queue": ex.row.queue,
                "attempt": ex.row.attempt,
            },
        )


class _Watchdog:
    """Fires a callback at each sync attempt's deadline (one thread, a heap of deadlines)."""

    def __init__(self, fire: Callable[[Execution], None]) -> None:
        self._fire = fire
        self._heap: list[tuple[float, int, Execution]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopped = False

    def add(self, ex: Execution) -> None:
        assert ex.deadline is not None
        with self._cond:
            heapq.heappush(self._heap, (ex.deadline, next(self._seq), ex))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pgqueue-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopped:
                    self._thread = None
                    return
                _, _, ex = heapq.heappop(self._heap)
            if not ex.settled:
                try:
                    self._fire(ex)
                except Exception:
                    log.exception("timeout handling failed for job %s", ex.row.id)
