"""Tasks: the functions a worker runs, with their per-task defaults.

A :class:`Task` is what ``@app.task`` returns. Calling it runs the function
in-process; ``enqueue`` and friends write a job instead. ``Task`` is generic in
the function's parameters (``ParamSpec``), so a type checker rejects
``send_welcome.enqueue("not an int")`` exactly as it would the direct call. The
options of ``configure`` are a TypedDict (:class:`EnqueueOptionsDict`), so a misspelt
or mistyped option is a type error too, and ``enqueue`` returns a ``Job[R]`` whose
``result()`` is typed as the function's return value (the awaited value for
``async def`` tasks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar, Unpack, overload

from . import _enqueue, _enqueue_many
from ._options import (
    BackoffFn,
    EnqueueOptions,
    EnqueueOptionsDict,
    Item,
    NativeOptionsDict,
    TaskOptions,
    UniqueKeyFn,
    checked_options,
    refuse_call_options,
)
from ._types import AppLike
from ._validate import ArgsCheck, resolve
from .errors import InvalidOption
from .job import Job
from .workflow import Signature, _one_or_many, chunks, enqueue_with_dependencies, group, xmap

__all__ = [  # the options live in pgqueue._options; their old home keeps the names
    "BackoffFn", "Configured", "EnqueueOptions", "EnqueueOptionsDict", "Item", "NativeOptionsDict",
    "Task", "TaskOptions", "UniqueKeyFn", "checked_options", "make_options",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_NO_OPTIONS = EnqueueOptions()


class Task(Generic[P, R]):
    """A registered task. Calling it runs the function in-process; ``enqueue`` makes a job."""

    def __init__(self, app: AppLike, fn: Callable[P, R], options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.options = options
        self.name = options.name
        self._check: ArgsCheck | None = None
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @property
    def check(self) -> ArgsCheck:
        """Checks enqueue arguments against the function's signature (InvalidPayload)."""
        if self._check is None:
            self._check = ArgsCheck(self.fn, self.name, skip_first=self.options.bind)
        return self._check

    def configure(self, **options: Unpack[EnqueueOptionsDict]) -> Configured[P, R]:
        """Bind enqueue-time options; returns an object with the same ``enqueue*`` methods.

        Options: ``conn`` (write in the caller's transaction: a psycopg connection or
        cursor, sync or async, or a SQLAlchemy Session/Connection on psycopg),
        ``queue``, ``priority``, ``delay`` (seconds or timedelta) or ``run_at`` (aware
        datetime), ``unique_key``, ``max_attempts``, ``tags``, ``depends_on``,
        ``serial_key`` (jobs with the same key run one at a time, in enqueue order).
        Raises InvalidOption for unknown names or bad values, InvalidName for a bad queue.
        """
        return Configured(self, make_options(self.options, _NO_OPTIONS, dict(options)))

    # enqueue/enqueue_async are overloaded only for the type checker: a job of an
    # ``async def`` task stores the awaited value, so its Job is typed by that, not by the
    # coroutine the function returns.
    @overload
    def enqueue(self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs) -> Job[T]: ...
    @overload
    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]: ...

    def enqueue(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """Enqueue one job in its own short transaction (committed on return).

        Arguments are checked against the function's signature and must be JSON
        (InvalidPayload), at most ``max_payload_bytes`` (PayloadTooLarge).
        """
        return _enqueue.enqueue_one(self.app, self.options, _NO_OPTIONS, args, kwargs, self.check)

    @overload
    async def enqueue_async(
        self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Job[T]: ...
    @overload
    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]: ...

    async def enqueue_async(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """Like :meth:`enqueue`, on pgqueue's async pool (made on the running loop)."""
        return await _enqueue.enqueue_one_async(
            self.app, self.options, _NO_OPTIONS, args, kwargs, self.check
        )

    def enqueue_many(self, items: Iterable[Item]) -> list[int]:
        """Enqueue one job per item in one transaction; returns the ids in item order.

        Each item is a tuple of positional arguments or a dict of keyword arguments.
        Written with COPY in batches (one round trip each), waking each queue once.
        All items are checked; on any error nothing is written.
        """
        return _enqueue_many.enqueue_many(self.app, self.options, _NO_OPTIONS, items, self.check)

    async def enqueue_many_async(self, items: Iterable[Item]) -> list[int]:
        """The async twin of :meth:`enqueue_many`."""
        return await _enqueue_many.enqueue_many_async(
            self.app, self.options, _NO_OPTIONS, items, self.check
        )

    # --- the Celery-style call surface (a thin layer over enqueue/configure) ------------------
    @overload
    def delay(self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs) -> Job[T]: ...
    @overload
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]: ...

    def delay(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """Celery's ``delay``: exactly :meth:`enqueue` (its own short transaction)."""
        return self.enqueue(*args, **kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | timedelta | None = None,
        eta: datetime | None = None,
        expires: float | timedelta | datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        conn: Any = None,
        link: Any = None,
        link_error: Any = None,
        **options: Unpack[NativeOptionsDict],
    ) -> Job[Any]:
        """Celery's ``apply_async``, mapped onto the native options.

        ``countdown`` is ``delay`` (seconds), ``eta`` is ``run_at`` (aware datetime),
        ``expires`` (seconds from now or an aware datetime: a job not started by then ends
        ``cancelled`` without running), ``queue``, ``priority`` (higher runs first),
        ``conn`` (enqueue in the caller's transaction). ``link`` / ``link_error``: a
        signature (or a list of them) enqueued with the job in the same transaction,
        run after it succeeds (receiving its result) / fails (receiving its id and error);
        see :mod:`pgqueue.workflow`. Other native options (``unique_key``, ``tags``,
        ``max_attempts`` ...) by name. Returns the job. Raises what :meth:`configure` and
        :meth:`enqueue` raise; Celery options pgqueue has no equivalent for are refused
        with InvalidOption naming what to use instead.
        """
        return _apply_async(self, _NO_OPTIONS, args, kwargs, countdown, eta, expires, queue,
                            priority, conn, link, link_error, dict(options))

    # --- workflows (pgqueue.workflow) -------------------------------------------------------
    def map(self, items: Iterable[Any]) -> Signature:
        """One job that calls this task once per item, in order, in one worker (Celery's
        ``map``); its result is the list of results. See :func:`pgqueue.workflow.xmap`."""
        return xmap(self, [(item,) for item in items])

    def starmap(self, items: Iterable[Sequence[Any]]) -> Signature:
        """Like :meth:`map`, each item being a tuple of positional arguments."""
        return xmap(self, [tuple(item) for item in items])

    def chunks(self, items: Iterable[Sequence[Any]], n: int) -> group:
        """Split argument tuples into jobs of ``n`` calls each (Celery's ``chunks``): a
        group of :meth:`starmap` jobs; its result is the list of each chunk's results."""
        return chunks(self, items, n)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature for chains/groups/chords; receives the previous step's result first.

        Deliberately loosely typed: a step's leading arguments are supplied by the step
        before it (a chord callback gets the list of results), so the signature is partial.
        """
        return Signature(self, tuple(args), dict(kwargs))

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: ignores the previous step's result."""
        return Signature(self, tuple(args), dict(kwargs), immutable=True)


class Configured(Generic[P, R]):
    """A task with enqueue-time options bound; same ``enqueue*`` methods as the task."""

    def __init__(self, task: Task[P, R], options: EnqueueOptions) -> None:
        self.task = task
        self.options = options

    def __repr__(self) -> str:
        return f"<Configured {self.task.name}>"

    def configure(self, **options: Unpack[EnqueueOptionsDict]) -> Configured[P, R]:
        """More options on top of these (later values win)."""
        return Configured(self.task, make_options(self.task.options, self.options, dict(options)))

    @overload
    def enqueue(
        self: Configured[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Job[T]: ...
    @overload
    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]: ...

    def enqueue(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """See :meth:`Task.enqueue`; with ``conn`` the job commits with the caller."""
        if self.options.depends_on is not None:
            return self._enqueue_with_dependencies(args, kwargs)
        return _enqueue.enqueue_one(
            self.task.app, self.task.options, self.options, args, kwargs, self.task.check
        )

    @overload
    async def enqueue_async(
        self: Configured[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Job[T]: ...
    @overload
    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]: ...

    async def enqueue_async(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """See :meth:`Task.enqueue_async`; ``conn`` must then be an async connection."""
        if self.options.depends_on is not None:
            raise InvalidOption("depends_on is supported by enqueue(), not enqueue_async()")
        return await _enqueue.enqueue_one_async(
            self.task.app, self.task.options, self.options, args, kwargs, self.task.check
        )

    def enqueue_many(self, items: Iterable[Item]) -> list[int]:
        """See :meth:`Task.enqueue_many`."""
        self._no_dependencies("enqueue_many")
        return _enqueue_many.enqueue_many(
            self.task.app, self.task.options, self.options, items, self.task.check
        )

    async def enqueue_many_async(self, items: Iterable[Item]) -> list[int]:
        """See :meth:`Task.enqueue_many_async`."""
        self._no_dependencies("enqueue_many_async")
        return await _enqueue_many.enqueue_many_async(
            self.task.app, self.task.options, self.options, items, self.task.check
        )

    def delay(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """Celery's ``delay``: :meth:`enqueue` with these options."""
        return self.enqueue(*args, **kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | timedelta | None = None,
        eta: datetime | None = None,
        expires: float | timedelta | datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        conn: Any = None,
        link: Any = None,
        link_error: Any = None,
        **options: Unpack[NativeOptionsDict],
    ) -> Job[Any]:
        """See :meth:`Task.apply_async`; its options win over these."""
        return _apply_async(self.task, self.options, args, kwargs, countdown, eta, expires,
                            queue, priority, conn, link, link_error, dict(options))

    def _no_dependencies(self, method: str) -> None:
        if self.options.depends_on is not None:
            raise InvalidOption(f"depends_on is supported by enqueue(), not {method}()")

    def _enqueue_with_dependencies(self, args: Sequence[Any], kwargs: dict[str, Any]) -> Job[Any]:
        self.task.check(args, kwargs)
        opts = {
            f.name: getattr(self.options, f.name)
            for f in fields(self.options)
            if f.name not in ("conn", "depends_on") and getattr(self.options, f.name) is not None
        }
        assert self.options.depends_on is not None
        return enqueue_with_dependencies(
            self.task.app, self.task, opts, args, kwargs, self.options.depends_on, self.options.conn
        )


def make_options(task: TaskOptions, base: EnqueueOptions, options: dict[str, Any]) -> EnqueueOptions:
    """``base`` updated with ``options``, checked now so mistakes surface at configure()."""
    merged = replace(base, **checked_options(options))
    resolve(task, merged)
    return merged


_checked_options = checked_options  # the foundation's name, kept for callers


def _apply_async(
    task: Task[Any, Any],
    base: EnqueueOptions,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    countdown: float | timedelta | None,
    eta: datetime | None,
    expires: float | timedelta | datetime | None,
    queue: str | None,
    priority: int | None,
    conn: Any,
    link: Any,
    link_error: Any,
    options: dict[str, Any],
) -> Job[Any]:
    """Celery's ``apply_async`` (see :meth:`pgqueue.Task.apply_async`) on top of ``base``."""
    refuse_call_options(options)
    if countdown is not None and options.get("delay") is not None:
        raise InvalidOption("give either countdown or delay, not both (they are the same)")
    if eta is not None and options.get("run_at") is not None:
        raise InvalidOption("give either eta or run_at, not both (they are the same)")
    given = {
        "delay": countdown, "run_at": eta, "expires": expires, "queue": queue,
        "priority": priority, "conn": conn,
    }
    options.update({k: v for k, v in given.items() if v is not None})
    merged = make_options(task.options, base, options)
    call_args, call_kwargs = tuple(args or ()), dict(kwargs or {})
    if link is None and link_error is None:
        return Configured(task, merged).enqueue(*call_args, **call_kwargs)
    if merged.depends_on is not None:
        raise InvalidOption("link/link_error cannot be combined with depends_on")
    sig_options = {
        f.name: getattr(merged, f.name)
        for f in fields(merged)
        if f.name != "conn" and getattr(merged, f.name) is not None
    }
    sig = Signature(task, call_args, call_kwargs, options=sig_options)
    for callback in _one_or_many(link):
        sig.link(callback)
    for errback in _one_or_many(link_error):
        sig.link_error(errback)
    task.check(call_args, call_kwargs)
    return sig.enqueue(merged.conn).jobs[0]
