"""The process runner (``--pool process``): sync attempts in pre-forked child processes
that the worker can kill.

Each child is forked from the worker and talks to it over one pipe. The dispatcher thread
sends each child its jobs in batches (one message for every job handed to it since the
last send) and the child sends results back in batches (one message per burst of finished
jobs), so short jobs cost no process spawn and no per-job round trip. A child runs its
jobs one at a time, in order; a task with a ``timeout`` or ``soft_timeout`` is only given
to an idle child and nothing is queued behind it, so its deadline is its own.

What the worker can do with a child, and what it means for the job:

- hard ``timeout``, operator cancel, shutdown past its timeout: the child running the job
  is SIGKILLed and replaced; the attempt ends timed out / cancelled / handed back once the
  child is gone (reaped), never before. A job still queued in a child is skipped instead.
- ``soft_timeout``: SIGALRM in the child raises TimeoutError inside the task.
- a child that dies by itself (SIGKILL, OOM, ``os._exit``, segfault): its running job is
  finished at once as a lost attempt (:class:`WorkerLost`, counted, retried by the usual
  rules); jobs queued behind it never started and go to another child unchanged.
- ``max_tasks_per_child`` / ``max_memory_per_child``: after a job, a child past its limit
  reports, says goodbye and exits; the worker forks a replacement.

Delivery: the parent settles an attempt only from the child's own result or from the
child's death, so no attempt of a job outlives its outcome (no double execution).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import mmap
import os
import signal
import struct
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from typing import TYPE_CHECKING, Any

from . import outcome as oc
from .child import child_main
from .execution import Execution

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("pgqueue.worker")


class WorkerLost(Exception):
    """The process running an attempt died before reporting (a signal, OOM, ``os._exit``).
    Counted as an attempt; retried by the usual rules."""


# The error type the rescue and the supervisor's hand-on record too (pgqueue.WorkerLost).
WorkerLost.__module__ = "pgqueue"


@dataclass(slots=True)
class _Child:
    pid: int
    conn: Connection
    inflight: collections.deque[Execution]
    current: mmap.mmap
    """How many of the jobs sent to it the child has begun (it writes this before each
    job): with ``dispatched`` it tells, after a kill or death, which held jobs ran."""
    dispatched: int = 0
    exclusive: bool = False
    """Running a job with a timeout: nothing else is queued behind it."""
    bye: bool = False
    """It said it is exiting (recycled): whatever it still holds never started."""


def _needs_alone(ex: Execution) -> bool:
    opts = ex.task.options if ex.task is not None else None
    return opts is not None and (opts.timeout is not None or opts.soft_timeout is not None)


class ProcessRunner:
    """``size`` child processes; each submitted sync attempt runs in one of them, then
    ``settle(ex, outcome)`` and ``release(ex)`` are called (on a runner thread).

    ``prefetch``: jobs one child may hold at once (queued in its pipe behind the running
    one). ``max_tasks``: jobs per child before it is replaced (None: no limit).
    ``max_memory_mb``: resident size above which a child is replaced after its job."""

    def __init__(
        self,
        app: App,
        worker_id: uuid.UUID,
        size: int,
        prefetch: int,
        settle: Callable[[Execution, oc.Outcome | None], None],
        release: Callable[[Execution], None],
        *,
        on_started: Callable[[Execution], None] | None = None,
        max_tasks: int | None = None,
        max_memory_mb: float | None = None,
    ) -> None:
        self.size = size
        self.prefetch = max(1, prefetch)
        self._app = app
        self._worker_id = worker_id
        self._settle = settle
        self._release = release
        self._on_started = on_started
        self._max_tasks = max_tasks
        self._max_memory_mb = max_memory_mb
        self._cond = threading.Condition()
        self._backlog: collections.deque[Execution] = collections.deque()
        self._children: dict[int, _Child] = {}
        self._where: dict[int, _Child] = {}  # id(ex) -> child holding it
        self._skip: dict[int, list[Execution]] = {}  # pid -> queued attempts to skip
        self._spawn = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.replaced = 0
        """Children forked after the first ``size`` (killed, dead or recycled)."""

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._spawn = self.size
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._dispatch_loop, args=(started,), name="pgqueue-processes", daemon=True
        )
        self._thread.start()
        started.wait()

    def stop(self) -> None:
        """Kill every child (nothing of theirs is still owed: the executor hands back
        before stopping) and end the dispatcher."""
        with self._cond:
            self._stopping = True
            children = list(self._children.values())
            self._cond.notify_all()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return list(self._children)

    # --- the executor's side ------------------------------------------------------------
    def submit(self, ex: Execution) -> None:
        with self._cond:
            self._backlog.append(ex)
            # A non-empty backlog is already the dispatcher's business (it is running, or
            # waits for a child to free up): waking it per job would cost a GIL handover each.
            if len(self._backlog) == 1:
                self._cond.notify_all()

    def holds(self, ex: Execution) -> bool:
        with self._cond:
            return id(ex) in self._where or ex in self._backlog

    def stop_attempt(self, ex: Execution) -> None:
        """Stop ``ex`` for good (its outcome follows from ``ex``'s flags: timed out,
        cancelled, handed back): dropped when not sent yet, skipped when queued in a
        child, its child killed when it runs."""
        kill = 0
        with self._cond:
            if ex in self._backlog:
                self._backlog.remove(ex)
                drop = True
            else:
                drop = False
                child = self._where.get(id(ex))
                if child is None:
                    return
                seq, begun = _seq(child, ex), _begun(child)
                if seq == begun:
                    kill = child.pid
                elif seq > begun:
                    self._skip.setdefault(child.pid, []).append(ex)
                    self._cond.notify_all()
        if drop:
            self._finish(ex, ex.failure(WorkerLost("attempt stopped before it started")))
        elif kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(kill, signal.SIGKILL)

    # --- dispatcher (forks children: PDEATHSIG follows the forking thread) ---------------
    def _dispatch_loop(self, started: threading.Event) -> None:
        while True:
            sends: list[tuple[_Child, list[Any]]] = []
            skipped: list[tuple[_Child, list[Execution]]] = []
            timed: list[Execution] = []
            with self._cond:
                while self._spawn and not self._stopping:
                    self._spawn -= 1
                    self._fork()
                started.set()
                if self._stopping:
                    return
                for child in self._children.values():
                    batch: list[Any] = []
                    skips = self._skip.pop(child.pid, None)
                    if skips:
                        batch.append(("skip", [ex.row.id for ex in skips]))
                        skipped.append((child, skips))
                    while self._backlog and not child.bye and not child.exclusive:
                        if len(child.inflight) >= self.prefetch:
                            break
                        if self._max_tasks is not None and child.dispatched >= self._max_tasks:
                            break
                        ex = self._backlog[0]
                        alone = _needs_alone(ex)
                        if alone and child.inflight:
                            break
                        self._backlog.popleft()
                        child.inflight.append(ex)
                        child.dispatched += 1
                        self._where[id(ex)] = child
                        batch.append(("run", ex.row))
                        if alone:
                            child.exclusive = True
                            # The deadline counts from the start in the child, not the claim.
                            ex.started = time.monotonic()
                            timed.append(ex)
                    if batch:
                        sends.append((child, batch))
                if not sends:
                    self._cond.wait()
                    continue
            if self._on_started is not None:
                for ex in timed:
                    self._on_started(ex)
            for child, batch in sends:
                try:
                    child.conn.send(batch)
                except OSError:
                    pass  # the child is gone: its reader settles what it held
            # A skipped attempt the child began before the skip reached it: stop it the
            # hard way (its outcome follows from its flags, as for any stop).
            for child, skips in skipped:
                with self._cond:
                    late = any(0 < _seq(child, ex) == _begun(child) for ex in skips)
                if late:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGKILL)

    def _fork(self) -> None:
        parent_end, child_end = Pipe(duplex=True)
        current = mmap.mmap(-1, 8)
        others = [c.conn for c in self._children.values()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: see child.child_main
            pid = os.fork()
        if pid == 0:  # the child
            try:
                parent_end.close()
                for other in others:
                    other.close()
                child_main(
                    self._app, self._worker_id, child_end, current, self._max_tasks, self._max_memory_mb
                )
            finally:
                os._exit(0)
        child_end.close()
        child = _Child(pid, parent_end, collections.deque(), current)
        self._children[pid] = child
        threading.Thread(target=self._read, args=(child,), name=f"pgqueue-proc-{pid}", daemon=True).start()

    # --- one reader thread per child --------------------------------------------------------
    def _read(self, child: _Child) -> None:
        while True:
            try:
                msg = child.conn.recv()
            except (EOFError, OSError):
                break
            finished: list[tuple[Execution, Any]] = []
            with self._cond:  # once per message, not once per job
                for item in msg:
                    if item[0] == "bye":
                        child.bye = True
                        log.info("process pool: child %s recycled (%s)", child.pid, item[1])
                        continue
                    ex = child.inflight.popleft()
                    del self._where[id(ex)]
                    finished.append((ex, item))
                child.exclusive = False
                if self._backlog or self._skip:  # only then has the dispatcher work to do
                    self._cond.notify_all()
            for ex, item in finished:
                if item[0] == "skipped":
                    outcome = ex.failure(WorkerLost("attempt stopped before it started"))
                else:
                    _, child_outcome, duration, error = item
                    outcome = _parent_outcome(ex, child_outcome, duration, error)
                self._finish(ex, outcome)
        self._child_gone(child)

    def _child_gone(self, child: _Child) -> None:
        _, status = os.waitpid(child.pid, 0)
        how = _describe(status)
        child.conn.close()
        with self._cond:
            self._children.pop(child.pid, None)
            self._skip.pop(child.pid, None)
            held = list(child.inflight)
            child.inflight.clear()
            for ex in held:
                self._where.pop(id(ex), None)
            ran: list[Execution] = []
            if not child.bye:
                cut = max(0, _begun(child) - (child.dispatched - len(held)))
                ran, held = held[:cut], held[cut:]
            # Never started (queued behind the lost one, or left by a recycled child).
            self._backlog.extendleft(reversed(held))
            if not self._stopping:
                self._spawn += 1
                self.replaced += 1
            self._cond.notify_all()
        child.current.close()
        # Jobs that ran (their results unsent) and the one running: lost attempts.
        for lost in ran:
            if not (lost.expired or lost.cancel_requested or lost.handing_back):
                log.warning(
                    "job %s: process pool child %s died (%s); the attempt is lost",
                    lost.row.id, child.pid, how, extra=lost.extra(),
                )  # fmt: skip
            err = WorkerLost(f"process pool child {child.pid} died ({how})")
            self._finish(lost, lost.failure(err))

    def _finish(self, ex: Execution, outcome: oc.Outcome) -> None:
        try:
            self._settle(ex, outcome)
        finally:
            self._release(ex)


def _begun(child: _Child) -> int:
    return int(struct.unpack_from("q", child.current, 0)[0])


def _seq(child: _Child, ex: Execution) -> int:
    """``ex``'s place (1-based) among the jobs sent to ``child``; ``ex`` is held by it."""
    base = child.dispatched - len(child.inflight)
    for i, held in enumerate(child.inflight):
        if held is ex:
            return base + i + 1
    return 0


def _parent_outcome(ex: Execution, child: oc.Outcome, duration: float | None, error: Any) -> oc.Outcome:
    """The child's outcome, unless the worker decided otherwise meanwhile (a cancel, the
    deadline, a hand-back: those win, as in the thread runner)."""
    ex.duration = duration
    if ex.cancel_requested:
        return oc.cancelled(ex.row.id, ex.row.attempt)
    if ex.expired is not None:
        return ex.failure(ex.expired)
    if isinstance(error, BaseException):
        ex.error = error
    return child


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return signal.Signals(sig).name
        except ValueError:
            return f"signal {sig}"
    return f"exit code {os.WEXITSTATUS(status)}"
