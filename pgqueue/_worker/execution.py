"""One running attempt: its job, its context, and an outcome that is settled once."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _hooks, _tracing
from ..context import Context
from ..errors import InvalidPayload, UnknownTask
from ..job import JobRow
from . import outcome as oc
from . import transactional

if TYPE_CHECKING:
    from ..app import App
    from ..task import Task


class Execution:
    """A claimed job on its way through the executor.

    Exactly one outcome is ever accepted (:meth:`settle`): the task's own, a
    timeout, or the shutdown hand-back, whichever comes first; the others are
    dropped. ``cancel`` is set when the worker wants the attempt to stop.
    ``cancel_requested`` is set when an operator cancelled the job: however the
    task then ends (returns or raises), the outcome is ``cancelled``.
    """

    __slots__ = (
        "_cancel",
        "_causes",
        "_lock",
        "app",
        "began",
        "cancel_requested",
        "committed",
        "deadline",
        "duration",
        "error",
        "expired",
        "handing_back",
        "outcome",
        "row",
        "started",
        "task",
        "trace",
        "value",
        "worker_id",
    )

    def __init__(self, app: App, row: JobRow, task: Task[Any, Any] | None, worker_id: uuid.UUID) -> None:
        self.app = app
        self.row = row
        self.task = task
        self.worker_id = worker_id
        self._cancel: threading.Event | None = None  # made on first use: most attempts never need it
        self.cancel_requested = False
        self.committed = False
        """A transactional task's success committed with its own writes (its outcome is
        then written already: pgqueue._worker.transactional)."""
        self.expired: TimeoutError | None = None
        """Set at a sync attempt's deadline: however its thread ends, the attempt failed
        with this (written when the thread returns; it keeps its slot and lease till then)."""
        self.handing_back = False
        """Set at shutdown past its timeout: however its thread ends, the job is handed
        back (attempt refunded), once the thread has returned."""
        self.outcome: oc.Outcome | None = None
        self.started = time.monotonic()
        self.deadline: float | None = None
        if task is not None and task.options.timeout is not None:
            self.deadline = self.started + task.options.timeout
        self._lock = threading.Lock()
        # For hooks and metrics: when the task function was called, how long the attempt
        # ran until its outcome was settled, what it raised and what it returned.
        self.began: float | None = None
        self.duration: float | None = None
        self.error: BaseException | None = None
        self.value: Any = None
        self._causes: dict[int, tuple[oc.Outcome, BaseException]] | None = None
        self.trace: dict[str, str] | None = None
        """The trace context stored at enqueue (read only while tracing is on)."""

    @property
    def cancel(self) -> threading.Event:
        """Set when the worker wants the attempt to stop (``ctx.cancelled`` reads it)."""
        event = self._cancel
        if event is None:
            with self._lock:
                if self._cancel is None:
                    self._cancel = threading.Event()
                event = self._cancel
        return event

    def extra(self) -> dict[str, Any]:
        """The structured fields of a log line about this attempt."""
        row = self.row
        return {"job_id": row.id, "task": row.task, "queue": row.queue, "attempt": row.attempt}

    @property
    def is_async(self) -> bool:
        return self.task is not None and _is_coroutine_fn(self.task.fn)

    def settle(self, outcome: oc.Outcome) -> bool:
        """Record ``outcome`` if none was recorded yet; True when this call won."""
        with self._lock:
            if self.outcome is not None:
                return False
            self.outcome = outcome
            if self.began is not None:
                self.duration = time.monotonic() - self.began
            if self._causes is not None:
                entry = self._causes.get(id(outcome))
                if entry is not None and entry[0] is outcome:
                    self.error = entry[1]
                self._causes = None
            return True

    @property
    def settled(self) -> bool:
        return self.outcome is not None

    def call(self) -> Any:
        """Call the task function (a coroutine for ``async def`` tasks); raises UnknownTask."""
        task = self.task
        if task is None:
            raise UnknownTask(
                f"task {self.row.task!r} is not registered on this worker's app; "
                "register it or route its queue to a worker that knows it"
            )
        fn: Callable[..., Any] = task.fn
        args = self.row.args
        kwargs = self.row.kwargs
        self.began = time.monotonic()
        middleware = self.app.hooks.middleware
        if _tracing.enabled():
            middleware = (functools.partial(_tracing.attempt_span, stored=self.trace), *middleware)
        if task.options.transactional:
            return self._call_transactional(fn, args, kwargs, middleware)
        if not middleware:
            if task.options.bind:
                return fn(Context(self.app, self.row, self.worker_id, self.cancel), *args, **kwargs)
            return fn(*args, **kwargs)
        ctx = Context(self.app, self.row, self.worker_id, self.cancel)
        if task.options.bind:
            args = [ctx, *args]
        if self.is_async:
            return _hooks.run_async(middleware, ctx, lambda: fn(*args, **kwargs))
        return _hooks.run_sync(middleware, ctx, lambda: fn(*args, **kwargs))

    def _call_transactional(
        self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], middleware: Any
    ) -> Any:
        ctx = Context(self.app, self.row, self.worker_id, self.cancel)
        bound = [ctx, *args]

        def invoke() -> Any:
            if not middleware:
                return fn(*bound, **kwargs)
            if self.is_async:
                return _hooks.run_async(middleware, ctx, lambda: fn(*bound, **kwargs))
            return _hooks.run_sync(middleware, ctx, lambda: fn(*bound, **kwargs))

        if self.is_async:
            return transactional.call_async(self, ctx, invoke)
        return transactional.call_sync(self, ctx, invoke)

    def success(self, value: Any) -> oc.Outcome:
        """The succeeded outcome; a value that is not JSON fails the attempt instead."""
        outcome = self._success(value)
        if self.committed and outcome.kind is oc.Kind.SUCCEEDED:
            return dataclasses.replace(outcome, written=True)
        return outcome

    def _success(self, value: Any) -> oc.Outcome:
        self.value = value
        if self.cancel_requested:
            return oc.cancelled(self.row.id, self.row.attempt)
        if self.expired is not None:
            return self.failure(self.expired)
        if self.handing_back:
            return oc.handback(self.row.id, self.row.attempt)
        if self.task is not None and not self.task.options.store_result:
            return oc.succeeded(self.row.id, self.row.attempt, None)
        if value is None:
            return oc.succeeded(self.row.id, self.row.attempt, None)
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            bad = InvalidPayload(
                f"task {self.row.task!r} returned a value that is not JSON ({exc}); return "
                "plain dicts/lists/str/numbers, or set store_result=False"
            )
            return self.failure(bad)
        return oc.succeeded(self.row.id, self.row.attempt, text)

    def failure(self, exc: BaseException) -> oc.Outcome:
        opts = self.task.options if self.task is not None else None
        if self.expired is not None:
            exc = self.expired
        if self.cancel_requested:
            outcome = oc.cancelled(self.row.id, self.row.attempt, exc)
        elif self.handing_back and self.expired is None:
            outcome = oc.handback(self.row.id, self.row.attempt)
        else:
            outcome = oc.decide(exc, opts, self.row.id, self.row.attempt, self.row.max_attempts)
        if not self.app.hooks.active:
            # Only hooks read the exception. Keeping it would close a reference cycle
            # (self -> exc -> traceback -> the frame of call() -> self) that only the
            # cyclic GC frees, holding the task's frame and locals until it runs.
            return outcome
        with self._lock:  # remembered for hooks, if this outcome wins settle()
            if self._causes is None:
                self._causes = {}
            self._causes[id(outcome)] = (outcome, exc)
        return outcome


@functools.cache
def _is_coroutine_fn(fn: Callable[..., Any]) -> bool:
    # inspect.iscoroutinefunction costs microseconds; a task's function never changes.
    return inspect.iscoroutinefunction(fn)
