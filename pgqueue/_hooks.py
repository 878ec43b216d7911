"""Lifecycle hooks and middleware: user code a worker calls around its jobs.

Hooks (``@app.on("job_failed")``) are called in the worker process after the
transition they name; they receive one :class:`JobEvent` (job events) or the
:class:`~pgqueue.Worker` (worker events). A hook that raises is logged on the
``pgqueue.hooks`` logger and changes nothing: the job goes on as if the hook were
not there. Hooks are plain functions (not ``async def``) run on the worker's own
threads, so keep them quick (count, log, push to a queue).

Middleware (``@app.middleware``) wraps every attempt: a function of the attempt's
:class:`~pgqueue.Context` returning a context manager, entered just before the task
function runs and exited just after, on the thread (sync task) or inside the
asyncio task (``async def`` task) that runs it, so context variables it sets are
seen by the task. An ``async def`` task may also get an async context manager.
Middleware registered first is outermost. An exception raised by a middleware
fails the attempt like one raised by the task.
"""

from __future__ import annotations

import inspect
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from ._state import JobRow
from .errors import InvalidOption, Retry

if TYPE_CHECKING:
    from ._worker.outcome import Outcome
    from .context import Context

log = logging.getLogger("pgqueue.hooks")

JobEventName: TypeAlias = Literal[
    "job_started",
    "job_succeeded",
    "job_failed",
    "job_retried",
    "job_snoozed",
    "job_dead",
    "job_cancelled",
    "job_rescued",
]
WorkerEventName: TypeAlias = Literal["worker_started", "worker_stopping"]

JOB_EVENTS: frozenset[str] = frozenset(JobEventName.__args__)  # type: ignore[attr-defined]
WORKER_EVENTS: frozenset[str] = frozenset(WorkerEventName.__args__)  # type: ignore[attr-defined]

_FAILURES = frozenset({"job_failed", "job_retried", "job_dead"})


@dataclass(frozen=True, slots=True)
class JobEvent:
    """What a job hook receives.

    ``job`` is the row as claimed (state ``running``, ``attempt`` already counted).
    ``duration`` is the attempt's run time in seconds (None for ``job_started``).
    ``exception`` is what the attempt raised (``job_failed``, and the ``job_retried`` /
    ``job_dead`` that follows it; a ``Retry(exc=e)`` gives ``e``); ``error`` its
    one-line form as stored in ``last_error``. ``result`` is the task's return value
    (``job_succeeded``). ``delay`` is the seconds until the next attempt
    (``job_retried``, ``job_snoozed``).
    """

    name: str
    job: JobRow
    worker_id: uuid.UUID
    duration: float | None = None
    exception: BaseException | None = None
    error: str | None = None
    result: Any = None
    delay: float | None = None


JobHook: TypeAlias = Callable[[JobEvent], object]
WorkerHook: TypeAlias = Callable[[Any], object]
"""Called with the :class:`pgqueue.Worker` (typed loosely: this module sits below the worker)."""
Middleware: TypeAlias = Callable[
    ["Context"], AbstractContextManager[object] | AbstractAsyncContextManager[object]
]


class Attempt(Protocol):
    """One attempt as hooks and observers see it (the worker's ``Execution``)."""

    @property
    def row(self) -> JobRow: ...
    @property
    def worker_id(self) -> uuid.UUID: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def value(self) -> Any: ...


class Observer(Protocol):
    """Built-in listeners (metrics, tracing) see every attempt, not just named events."""

    def on_started(self, ex: Attempt) -> None: ...

    def on_settled(self, ex: Attempt, outcome: Outcome) -> None:
        """The attempt's outcome is decided (once per attempt, on the settling thread)."""

    def on_written(self, ex: Attempt, outcome: Outcome) -> None:
        """The outcome was committed (not called for fenced-out outcomes)."""


class Hooks:
    """An app's hooks, middleware and observers; ``active`` is False while none is set,
    so a worker without any pays one attribute check per job."""

    def __init__(self) -> None:
        self.active = False
        self.middleware: tuple[Middleware, ...] = ()
        self._job: dict[str, tuple[JobHook, ...]] = {}
        self._worker: dict[str, tuple[WorkerHook, ...]] = {}
        self._observers: tuple[Observer, ...] = ()
        self._lock = threading.Lock()

    # --- registration -----------------------------------------------------------------------
    def add(self, event: str, fn: Callable[..., object]) -> None:
        """Call ``fn`` on ``event``; raises InvalidOption for an unknown event name or an
        ``async def`` function."""
        if event not in JOB_EVENTS and event not in WORKER_EVENTS:
            known = ", ".join(sorted(JOB_EVENTS | WORKER_EVENTS))
            raise InvalidOption(f"unknown hook event {event!r}; use one of: {known}")
        _check_plain(fn, "hook")
        with self._lock:
            table: dict[str, tuple[Any, ...]] = self._job if event in JOB_EVENTS else self._worker
            table[event] = (*table.get(event, ()), fn)
            self.active = True

    def add_middleware(self, fn: Middleware) -> None:
        """Wrap every attempt in ``fn(ctx)``; raises InvalidOption for an ``async def``
        function (return an async context manager from a plain function instead)."""
        _check_plain(fn, "middleware")
        with self._lock:
            self.middleware = (*self.middleware, fn)

    def add_observer(self, observer: Observer) -> None:
        with self._lock:
            if observer not in self._observers:
                self._observers = (*self._observers, observer)
            self.active = True

    # --- call points (the worker calls these only while ``active``) ---------------------------
    def started(self, ex: Attempt) -> None:
        for obs in self._observers:
            _safe(obs.on_started, "observer on_started", ex)
        fns = self._job.get("job_started")
        if fns:
            self._fire(fns, JobEvent("job_started", ex.row, ex.worker_id))

    def settled(self, ex: Attempt, outcome: Outcome) -> None:
        for obs in self._observers:
            _safe(obs.on_settled, "observer on_settled", ex, outcome)

    def written(self, ex: Attempt, outcome: Outcome) -> None:
        for obs in self._observers:
            _safe(obs.on_written, "observer on_written", ex, outcome)
        # The job events of each kind: pgqueue._worker.outcome.OUTCOMES ("job_failed" fires
        # only when the attempt raised; a shutdown hand-back fires nothing).
        names = outcome.kind.info.hooks
        if not names or not any(n in self._job for n in names):
            return
        exc = cause(ex.error)
        for name in names:
            fns = self._job.get(name)
            if not fns or (name == "job_failed" and exc is None):
                continue
            self._fire(
                fns,
                JobEvent(
                    name,
                    ex.row,
                    ex.worker_id,
                    duration=ex.duration,
                    exception=exc if name in _FAILURES else None,
                    error=outcome.last_error,
                    result=ex.value if name == "job_succeeded" else None,
                    delay=outcome.delay if name in ("job_retried", "job_snoozed") else None,
                ),
            )

    def wants(self, name: str) -> bool:
        """Whether a hook is registered for job event ``name``."""
        return name in self._job

    def rescued(self, row: JobRow, worker_id: uuid.UUID) -> None:
        """``job_rescued``: a job whose worker stopped heartbeating was given back by the
        rescuer of the worker ``worker_id``; ``row`` is the job after the rescue (queued
        again, or dead/cancelled), ``error`` its ``last_error`` (WorkerLost)."""
        fns = self._job.get("job_rescued")
        if fns:
            self._fire(fns, JobEvent("job_rescued", row, worker_id, error=row.last_error))

    def worker(self, event: WorkerEventName, worker: object) -> None:
        for fn in self._worker.get(event, ()):
            _safe(fn, event, worker)

    def _fire(self, fns: Sequence[JobHook], event: JobEvent) -> None:
        for fn in fns:
            _safe(fn, event.name, event)


def cause(exc: BaseException | None) -> BaseException | None:
    """The error an attempt failed with: a ``Retry``'s ``exc`` when it carries one."""
    if isinstance(exc, Retry) and exc.exc is not None:
        return exc.exc
    return exc


def _check_plain(fn: Callable[..., object], what: str) -> None:
    if not callable(fn):
        raise InvalidOption(f"a {what} must be callable, got {type(fn).__name__}")
    if inspect.iscoroutinefunction(fn):
        raise InvalidOption(
            f"{what} {getattr(fn, '__qualname__', fn)!r} is async def; hooks and middleware factories "
            "are plain functions (a middleware may return an async context manager)"
        )


def _safe(fn: Callable[..., object], what: str, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("%s hook %r raised; ignored", what, getattr(fn, "__qualname__", fn))


# --- middleware around one call --------------------------------------------------------------
def run_sync(middleware: Sequence[Middleware], ctx: Context, call: Callable[[], Any]) -> Any:
    """Enter each middleware's context manager (first = outermost), then ``call()``.

    Raises TypeError when a middleware gives an async context manager (it cannot
    wrap a sync task), which fails the attempt.
    """
    with ExitStack() as stack:
        for mw in middleware:
            cm = mw(ctx)
            if not isinstance(cm, AbstractContextManager):
                raise TypeError(
                    f"middleware {getattr(mw, '__qualname__', mw)!r} returned {type(cm).__name__}, "
                    "not a context manager (an async one can only wrap async def tasks)"
                )
            stack.enter_context(cm)
        return call()


async def run_async(
    middleware: Sequence[Middleware], ctx: Context, call: Callable[[], Coroutine[Any, Any, Any]]
) -> Any:
    """The async twin of :func:`run_sync`: sync and async context managers both work."""
    async with AsyncExitStack() as stack:
        for mw in middleware:
            cm = mw(ctx)
            if isinstance(cm, AbstractAsyncContextManager):
                await stack.enter_async_context(cm)
            elif isinstance(cm, AbstractContextManager):
                stack.enter_context(cm)
            else:
                raise TypeError(
                    f"middleware {getattr(mw, '__qualname__', mw)!r} returned {type(cm).__name__}, "
                    "not a context manager"
                )
        return await call()
