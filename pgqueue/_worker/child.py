"""The child side of the process runner (processes.py): a forked process that runs the jobs
its pipe sends, one at a time, and sends their outcomes back in batches; it recycles itself
past ``max_tasks`` jobs or ``max_memory_mb`` of resident memory."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import mmap
import os
import pickle
import signal
import struct
import threading
import time
import uuid
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Final

from . import outcome as oc
from .execution import Execution

if TYPE_CHECKING:
    from ..app import App

RESULT_FLUSH_S: Final = 0.002
"""A child sends its finished results at the latest this long after the first of them
(sooner when it has nothing else to run): batches for short jobs, no wait for long ones."""

_PR_SET_PDEATHSIG: Final = 1

_KEEP: list[Any] = []
"""The parent's connections and pools, inherited by fork: kept referenced (never closed or
collected here, which would end the parent's sessions); the child exits with os._exit."""


def child_main(
    app: App,
    worker_id: uuid.UUID,
    conn: Connection,
    current: mmap.mmap,
    max_tasks: int | None,
    max_memory_mb: float | None,
) -> None:
    """Run jobs from ``conn`` until EOF or a recycling limit. Only the forking thread
    exists here; the parent's pools are set aside and fresh ones made on first use."""
    with contextlib.suppress(Exception):  # Linux: die with the worker
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _detach_pools(app)
    done = begun = 0
    pending: collections.deque[Any] = collections.deque()
    skip: set[int] = set()
    out: list[Any] = []
    first_unsent = 0.0

    def take(msg: list[Any]) -> None:
        for kind, value in msg:
            if kind == "skip":
                skip.update(value)
            else:
                pending.append(value)

    while True:
        if not pending:
            if out:
                conn.send(out)
                out = []
            try:
                take(conn.recv())
            except (EOFError, OSError):
                return
            continue
        while conn.poll():
            take(conn.recv())
        row = pending.popleft()
        begun += 1
        struct.pack_into("q", current, 0, begun)
        if row.id in skip:
            skip.discard(row.id)
            out.append(("skipped",))
        else:
            out.append(_run_one(app, worker_id, row))
            done += 1
        if len(out) == 1:
            first_unsent = time.monotonic()
        reason = _recycle_reason(done, max_tasks, max_memory_mb)
        if reason:
            out.append(("bye", reason))
            conn.send(out)
            return
        if out and (not pending or time.monotonic() - first_unsent >= RESULT_FLUSH_S):
            conn.send(out)
            out = []


def _run_one(app: App, worker_id: uuid.UUID, row: Any) -> tuple[str, oc.Outcome, float | None, Any]:
    task = app.tasks.get(row.task)
    ex = Execution(app, row, task, worker_id)
    soft = task.options.soft_timeout if task is not None else None

    def alarm(_sig: int, _frame: Any) -> None:
        # Raised where the task is: it may catch it to clean up before the hard timeout.
        raise TimeoutError(f"task {row.task!r} exceeded its soft timeout of {soft}s")

    if soft is not None:
        signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, soft)
    try:
        try:
            outcome = ex.success(ex.call())
        finally:
            if soft is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:  # a task's SystemExit fails its attempt, not the child
        outcome = ex.failure(exc)
    ex.settle(outcome)  # fills in duration and error
    error = ex.error
    try:
        pickle.dumps(error)
    except Exception:
        error = None
    return ("done", outcome, ex.duration, error)


def _recycle_reason(done: int, max_tasks: int | None, max_memory_mb: float | None) -> str | None:
    if max_tasks is not None and done >= max_tasks:
        return f"{done} tasks run, --max-tasks-per-child {max_tasks}"
    if max_memory_mb is not None:
        rss = _rss_mb()
        if rss > max_memory_mb:
            return f"resident size {rss:.0f} MB above --max-memory-per-child {max_memory_mb:g}"
    return None


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _detach_pools(app: App) -> None:
    lazy = getattr(app, "_pool", None)
    if lazy is not None and getattr(lazy, "_pool", None) is not None:
        _KEEP.append(lazy._pool)
        lazy._pool = None
        lazy._lock = threading.Lock()
    from . import transactional

    _KEEP.append(dict(transactional._ENGINES))
    transactional._ENGINES.clear()
    transactional._ENGINES_LOCK = threading.Lock()
