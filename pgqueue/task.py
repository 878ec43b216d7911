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
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypedDict, TypeVar, Unpack, overload

if TYPE_CHECKING:
    from ._validate import ArgsCheck
    from .app import App
    from .job import Job
    from .workflow import Signature, group

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

BackoffFn = Callable[[int], float]
"""``backoff(attempt) -> seconds`` before the next attempt (attempt counts from 1)."""

UniqueKeyFn = Callable[..., "str | None"]
"""Called with the job's arguments; returns its unique key (None: not unique)."""

Item = Sequence[Any] | dict[str, Any]
"""One job of ``enqueue_many``: a tuple of positional args or a dict of keyword args."""


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-task defaults; every enqueue may override the enqueue-time ones."""

    name: str
    queue: str
    priority: int = 0
    """Higher runs first (``pgqueue.HIGH=10``, ``NORMAL=0``, ``LOW=-10``); a smallint."""
    max_attempts: int = 5
    timeout: float | None = None
    """Seconds one attempt may run before it is failed (None: no limit). In the process
    pool a hard limit (the child is killed); on threads ``ctx.cancelled`` turns true and
    the attempt fails once the function returns."""
    soft_timeout: float | None = None
    """Process pool: seconds after which TimeoutError is raised inside the task (SIGALRM),
    so it can clean up before the hard ``timeout`` (None: none)."""
    pool: Literal["thread", "process"] | None = None
    """Pins the task's sync attempts to the thread or the process pool (None: the
    worker's ``--pool``). Async tasks always run on the worker's event loop."""
    bind: bool = False
    """Pass a :class:`~pgqueue.Context` as the first argument."""
    transactional: bool = False
    """Run each attempt in a transaction (``ctx.conn``, ``ctx.session``) that commits the
    task's writes together with the job's success, or rolls them back (needs ``bind``)."""
    store_result: bool = True
    retry_on: tuple[type[BaseException], ...] = ()
    """When non-empty, only these exceptions retry; others go dead at once."""
    discard_on: tuple[type[BaseException], ...] = ()
    """These exceptions send the job dead at once (checked before ``retry_on``)."""
    backoff_base: float = 1.0
    """Seconds before the 2nd attempt; doubles each attempt, with jitter."""
    backoff_max: float = 3600.0
    backoff_jitter: float = 0.25
    """Fraction of the delay randomised (+/-)."""
    backoff: BackoffFn | None = None
    """A custom back-off function replacing the exponential one."""
    unique_key: str | UniqueKeyFn | None = None
    """A fixed key (one live job of this task at a time) or a function of the task's
    arguments returning the key. While a job holding a key is waiting, queued or
    running, enqueueing the same key returns that job instead of a new one."""
    tags: tuple[str, ...] = field(default_factory=tuple)
    rate_limit: str | None = None
    """At most this many starts of the task per period, across every worker: ``"10/s"``,
    ``"600/m"``, ``"5/2h"`` (a sliding window, enforced in the database at claim time;
    pgqueue/_sql/claim_task.sql). Every worker's app must register the same limit. In a
    queue with a concurrency or rate limit of its own, the queue's limits apply instead."""


@dataclass(frozen=True, slots=True)
class EnqueueOptions:
    """What one enqueue may set beyond the task's defaults (see :meth:`Task.configure`)."""

    conn: Any = None
    queue: str | None = None
    priority: int | None = None
    delay: float | timedelta | None = None
    run_at: datetime | None = None
    unique_key: str | None = None
    max_attempts: int | None = None
    tags: Sequence[str] | None = None
    depends_on: Sequence[Any] | None = None
    """Jobs (or ids) that must finish first; see :mod:`pgqueue.workflow`."""
    on_dependency_failure: str | None = None
    serial_key: str | None = None
    """Jobs sharing this key run one at a time, in enqueue (id) order, across all
    workers; the claim enforces it (see docs/operations.md)."""
    expires: float | timedelta | datetime | None = None
    """Seconds (or a timedelta) from the enqueue, or an aware datetime: a job no worker
    has started by then is ended ``cancelled`` without running (pgqueue.JobExpired)."""


class NativeOptionsDict(TypedDict, total=False):
    """The enqueue options that :meth:`Task.apply_async` takes by their native names."""

    delay: float | timedelta | None
    run_at: datetime | None
    unique_key: str | None
    max_attempts: int | None
    tags: Sequence[str] | None
    depends_on: Sequence[Job[Any] | int] | None
    on_dependency_failure: Literal["cancel", "run"] | None
    serial_key: str | None


class EnqueueOptionsDict(NativeOptionsDict, total=False):
    """The keyword arguments of :meth:`Task.configure` and ``App.enqueue``, for type checkers.

    Mirrors :class:`EnqueueOptions` (a test keeps the two in step); None means "not set".
    """

    conn: Any
    queue: str | None
    priority: int | None
    expires: float | timedelta | datetime | None


_NO_OPTIONS = EnqueueOptions()


class Task(Generic[P, R]):
    """A registered task. Calling it runs the function in-process; ``enqueue`` makes a job."""

    def __init__(self, app: App, fn: Callable[P, R], options: TaskOptions) -> None:
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
            from ._validate import ArgsCheck

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
        from . import _enqueue

        return _enqueue.enqueue_one(self.app, self.options, _NO_OPTIONS, args, kwargs, self.check)

    @overload
    async def enqueue_async(
        self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Job[T]: ...
    @overload
    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]: ...

    async def enqueue_async(self, *args: Any, **kwargs: Any) -> Job[Any]:
        """Like :meth:`enqueue`, on pgqueue's async pool (made on the running loop)."""
        from . import _enqueue

        return await _enqueue.enqueue_one_async(
            self.app, self.options, _NO_OPTIONS, args, kwargs, self.check
        )

    def enqueue_many(self, items: Iterable[Item]) -> list[int]:
        """Enqueue one job per item in one transaction; returns the ids in item order.

        Each item is a tuple of positional arguments or a dict of keyword arguments.
        Written with COPY in batches (one round trip each), waking each queue once.
        All items are checked; on any error nothing is written.
        """
        from . import _enqueue_many

        return _enqueue_many.enqueue_many(self.app, self.options, _NO_OPTIONS, items, self.check)

    async def enqueue_many_async(self, items: Iterable[Item]) -> list[int]:
        """The async twin of :meth:`enqueue_many`."""
        from . import _enqueue_many

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
        from ._compat import apply_async

        return apply_async(self, _NO_OPTIONS, args, kwargs, countdown, eta, expires, queue,
                            priority, conn, link, link_error, dict(options))

    # --- workflows (pgqueue.workflow) -------------------------------------------------------
    def map(self, items: Iterable[Any]) -> Signature:
        """One job that calls this task once per item, in order, in one worker (Celery's
        ``map``); its result is the list of results. See :func:`pgqueue.workflow.xmap`."""
        from .workflow import xmap

        return xmap(self, [(item,) for item in items])

    def starmap(self, items: Iterable[Sequence[Any]]) -> Signature:
        """Like :meth:`map`, each item being a tuple of positional arguments."""
        from .workflow import xmap

        return xmap(self, [tuple(item) for item in items])

    def chunks(self, items: Iterable[Sequence[Any]], n: int) -> group:
        """Split argument tuples into jobs of ``n`` calls each (Celery's ``chunks``): a
        group of :meth:`starmap` jobs; its result is the list of each chunk's results."""
        from .workflow import chunks

        return chunks(self, items, n)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature for chains/groups/chords; receives the previous step's result first.

        Deliberately loosely typed: a step's leading arguments are supplied by the step
        before it (a chord callback gets the list of results), so the signature is partial.
        """
        from .workflow import Signature

        return Signature(self, tuple(args), dict(kwargs))

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: ignores the previous step's result."""
        from .workflow import Signature

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
        from . import _enqueue

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
        from . import _enqueue
        from .errors import InvalidOption

        if self.options.depends_on is not None:
            raise InvalidOption("depends_on is supported by enqueue(), not enqueue_async()")
        return await _enqueue.enqueue_one_async(
            self.task.app, self.task.options, self.options, args, kwargs, self.task.check
        )

    def enqueue_many(self, items: Iterable[Item]) -> list[int]:
        """See :meth:`Task.enqueue_many`."""
        from . import _enqueue_many

        self._no_dependencies("enqueue_many")
        return _enqueue_many.enqueue_many(
            self.task.app, self.task.options, self.options, items, self.task.check
        )

    async def enqueue_many_async(self, items: Iterable[Item]) -> list[int]:
        """See :meth:`Task.enqueue_many_async`."""
        from . import _enqueue_many

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
        from ._compat import apply_async

        return apply_async(self.task, self.options, args, kwargs, countdown, eta, expires,
                            queue, priority, conn, link, link_error, dict(options))

    def _no_dependencies(self, method: str) -> None:
        from .errors import InvalidOption

        if self.options.depends_on is not None:
            raise InvalidOption(f"depends_on is supported by enqueue(), not {method}()")

    def _enqueue_with_dependencies(self, args: Sequence[Any], kwargs: dict[str, Any]) -> Job[Any]:
        from .workflow import enqueue_with_dependencies

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
    from ._validate import resolve

    merged = replace(base, **checked_options(options))
    resolve(task, merged)
    return merged


def checked_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` if every name is an enqueue option; raises InvalidOption otherwise."""
    from .errors import InvalidOption

    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        from ._compat import unknown_names

        raise InvalidOption(unknown_names("enqueue option", unknown, _OPTION_NAMES))
    return options


_checked_options = checked_options  # the foundation's name, kept for callers
_OPTION_NAMES = frozenset(f.name for f in fields(EnqueueOptions))
