"""App: configuration, the task registry and the enqueue entry points."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar, Unpack, overload

from . import _dsn, _enqueue, _enqueue_many, _resolve
from ._admin.queues import Queues
from ._apool import LazyAsyncPool
from ._db import LazyPool
from ._hooks import Hooks, JobEventName, JobHook, Middleware, WorkerEventName, WorkerHook
from ._options import (
    BackoffFn,
    EnqueueOptions,
    EnqueueOptionsDict,
    Item,
    TaskOptions,
    UniqueKeyFn,
)
from ._routes import Routes, RoutesArg
from ._schedule import ScheduleDef
from ._settings import Retention, Settings
from ._wake import Wakeups
from .errors import InvalidOption, UnknownTask
from .job import Job
from .task import Task
from .workflow import MAP_TASK

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool

    from ._metrics import Metrics
    from ._validate import ArgsCheck
    from .context import Context

P = ParamSpec("P")
R = TypeVar("R")
H = TypeVar("H", bound=Callable[..., object])


class App:
    """A pgqueue application: where the database is and which tasks exist.

    ``dsn`` is resolved lazily with :func:`pgqueue.resolve_dsn` (explicit, then
    ``PGQUEUE_DSN``, ``DATABASE_URL``, else the embedded server). ``strict=True``
    makes :meth:`enqueue` refuse task names that are not registered here.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        strict: bool = False,
        settings: Settings | None = None,
        routes: RoutesArg | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = _resolve.app_settings(settings, overrides)
        self.strict = strict
        self.routes = Routes(routes)
        """Task-name patterns -> queue/priority (Celery's ``task_routes``; pgqueue._routes)."""
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.schedules: dict[str, ScheduleDef] = {}
        self.hooks = Hooks()
        """Lifecycle hooks and middleware (see :meth:`on`, :meth:`middleware`)."""
        self._metrics: Metrics | None = None
        self._dsn = dsn
        self._resolved_dsn: str | None = None
        self._pool = LazyPool(
            lambda: self.dsn, self.settings.pool_min_size, self.settings.pool_max_size
        )
        self._apool = LazyAsyncPool(
            lambda: self.dsn, self.settings.pool_min_size, self.settings.pool_max_size
        )
        self.wakeups = Wakeups(
            lambda: self.dsn, self.settings.wake_window_ms / 1000, self.settings.wake_burst
        )
        """Wake-up debouncing of single enqueues (see ``Settings.wake_window_ms``)."""

        def pgqueue_map(task_name: str, calls: list[list[Any]]) -> list[Any]:
            return _resolve.run_map(self.get_task, task_name, calls)

        self.task(name=MAP_TASK)(pgqueue_map)

    @property
    def retention(self) -> Retention:
        """How long finished jobs are kept, from the ``retention_*_s`` settings; pass it to
        :func:`pgqueue._admin.prune.run_retention` / ``prune``."""
        return Retention.from_settings(self.settings)

    # --- database -----------------------------------------------------------------------
    @property
    def dsn(self) -> str:
        """The resolved DSN (starts the embedded server on first use when it is the source)."""
        if self._resolved_dsn is None:
            self._resolved_dsn = _dsn.resolve_dsn(self._dsn)
        return self._resolved_dsn

    @property
    def pool(self) -> Any:
        """pgqueue's own connection pool (autocommit), created on first use."""
        return self._pool.get()

    async def async_pool(self) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
        """pgqueue's async pool (autocommit), made on first use on the running event loop."""
        return await self._apool.get()

    def close(self) -> None:
        """Send owed wake-ups and close the pools; the app can be used again afterwards
        (new pools are made)."""
        self.wakeups.flush()
        self._pool.close()
        self._apool.close()

    async def aclose(self) -> None:
        """Send owed wake-ups and close the pools from async code."""
        await asyncio.to_thread(self.wakeups.flush)
        self._pool.close()
        await self._apool.aclose()

    async def _aclose_pool_here(self) -> None:
        """Close the async pool if it was made on the running loop (a worker's executor
        calls this before its loop stops, so the pool's tasks do not die with the loop)."""
        await self._apool.aclose_here()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- tasks ----------------------------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        *,
        bind: Literal[True],
        transactional: bool = False,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        soft_timeout: float | None = None,
        pool: Literal["thread", "process"] | None = None,
        store_result: bool | None = None,
        retry_on: Sequence[type[BaseException]] = (),
        discard_on: Sequence[type[BaseException]] = (),
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        backoff_jitter: float | None = None,
        backoff: BackoffFn | None = None,
        unique_key: str | UniqueKeyFn | None = None,
        tags: Sequence[str] = (),
        rate_limit: str | None = None,
    ) -> Callable[[Callable[Concatenate[Context, P], R]], Task[P, R]]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        soft_timeout: float | None = None,
        pool: Literal["thread", "process"] | None = None,
        bind: Literal[False] = False,
        store_result: bool | None = None,
        retry_on: Sequence[type[BaseException]] = (),
        discard_on: Sequence[type[BaseException]] = (),
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        backoff_jitter: float | None = None,
        backoff: BackoffFn | None = None,
        unique_key: str | UniqueKeyFn | None = None,
        tags: Sequence[str] = (),
        rate_limit: str | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(self, fn: Callable[P, R] | None = None, /, **options: Any) -> Any:  # type: ignore[misc]
        """Register a function as a task (usable bare, ``@app.task``, or with options).

        ``name`` defaults to the function's dotted path (``module.qualname``). Options
        left out (or None) take a route's queue/priority (``App(routes=...)``), else the
        app-wide defaults (``Settings.default_*``). Raises InvalidName / InvalidOption for
        bad values, InvalidOption for an unknown option (naming the pgqueue equivalent of
        a Celery one) and when the name is already registered to another function.
        """

        def register(f: Callable[P, R]) -> Task[P, R]:
            opts = _resolve.for_function(f, options, self.routes, self.settings)
            existing = self.tasks.get(opts.name)
            if existing is not None and existing.fn is not f:
                raise InvalidOption(f"task name {opts.name!r} is already registered")
            task: Task[P, R] = Task(self, f, opts)
            self.tasks[opts.name] = task
            return task

        if fn is not None:
            return register(fn)
        return register

    def get_task(self, name: str) -> Task[Any, Any]:
        """The registered task called ``name``; raises UnknownTask."""
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTask(
                f"task {name!r} is not registered on this app; known: "
                f"{', '.join(sorted(self.tasks)) or 'none'}"
            ) from None

    # --- enqueue by name ------------------------------------------------------------------
    def enqueue(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Unpack[EnqueueOptionsDict],
    ) -> Job:
        """Enqueue a job by task name, for producers that do not import the task code.

        Options are those of :meth:`Task.configure` (``conn=`` included). A name
        registered here uses that task's defaults and signature check; other names
        are allowed (defaults from the settings) unless the app is ``strict``, then
        UnknownTask. Raises what :meth:`Task.enqueue` raises.
        """
        task_opts, enqueue_opts, check = self._by_name(task_name, options)
        return _enqueue.enqueue_one(self, task_opts, enqueue_opts, tuple(args), kwargs or {}, check)

    async def enqueue_async(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Unpack[EnqueueOptionsDict],
    ) -> Job:
        """The async twin of :meth:`enqueue` (``conn=`` must then be async)."""
        task_opts, enqueue_opts, check = self._by_name(task_name, options)
        return await _enqueue.enqueue_one_async(
            self, task_opts, enqueue_opts, tuple(args), kwargs or {}, check
        )

    def enqueue_many(
        self, task_name: str, items: Iterable[Item], **options: Unpack[EnqueueOptionsDict]
    ) -> list[int]:
        """Bulk enqueue by task name; see :meth:`Task.enqueue_many`."""
        task_opts, enqueue_opts, check = self._by_name(task_name, options)
        return _enqueue_many.enqueue_many(self, task_opts, enqueue_opts, items, check)

    async def enqueue_many_async(
        self, task_name: str, items: Iterable[Item], **options: Unpack[EnqueueOptionsDict]
    ) -> list[int]:
        """The async twin of :meth:`enqueue_many` (``conn=`` must then be async)."""
        task_opts, enqueue_opts, check = self._by_name(task_name, options)
        return await _enqueue_many.enqueue_many_async(self, task_opts, enqueue_opts, items, check)

    def _by_name(
        self, task_name: str, options: EnqueueOptionsDict
    ) -> tuple[TaskOptions, EnqueueOptions, ArgsCheck | None]:
        task = self.tasks.get(task_name)
        task_opts = task.options if task is not None else self._options_for_name(task_name)
        return task_opts, _resolve.enqueue_options(options), task.check if task is not None else None

    def _options_for_name(self, task_name: str) -> TaskOptions:
        task = self.tasks.get(task_name)
        if task is not None:
            return task.options
        if self.strict:
            self.get_task(task_name)
        return _resolve.for_name(task_name, self.routes, self.settings)

    # --- periodic schedules -------------------------------------------------------------
    def periodic(
        self,
        *,
        cron: str | None = None,
        interval: timedelta | None = None,
        timezone: str = "UTC",
        misfire: str = "skip",
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> Callable[[Task[P, R]], Task[P, R]]:
        """Run the task on a schedule; stack it above ``@app.task(...)``.

        ``cron`` is a 5-field crontab string evaluated in ``timezone`` (IANA name);
        ``interval`` a timedelta. ``misfire`` says what happens to ticks missed while
        no worker ran: ``skip`` (default), ``once`` (one run for all), ``all``.
        Every worker runs the scheduler; each tick enqueues exactly one job.
        Raises InvalidSchedule for a bad cron string, time zone or policy.
        """

        def register(task: Task[P, R]) -> Task[P, R]:
            self.add_schedule(
                name or task.name, task, cron=cron, interval=interval, timezone=timezone,
                misfire=misfire, args=args, kwargs=kwargs, queue=queue, priority=priority,
            )
            return task

        return register

    def add_schedule(
        self,
        name: str,
        task: Task[Any, Any] | str,
        *,
        cron: str | None = None,
        interval: timedelta | None = None,
        timezone: str = "UTC",
        misfire: str = "skip",
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> ScheduleDef:
        """Define a periodic schedule without the decorator (same options as periodic)."""
        opts = self._options_for_name(task) if isinstance(task, str) else task.options
        sched = ScheduleDef(
            name=name, task=opts.name, queue=queue or opts.queue, cron=cron, interval=interval,
            timezone=timezone, misfire=misfire,  # type: ignore[arg-type]
            args=tuple(args), kwargs=dict(kwargs or {}),
            priority=opts.priority if priority is None else priority,
        )
        self.schedules[name] = sched
        return sched

    @property
    def queues(self) -> Queues:
        """Queue operations: ``app.queues.pause("emails")``, ``.resume``, ``.set_limits``, ``.list``."""
        return Queues(self)

    def job(self, job_id: int) -> Job:
        """A handle on an existing job (no query until you ask for something)."""
        return Job(self, job_id)

    # --- lifecycle hooks, middleware, metrics -------------------------------------------------
    @overload
    def on(self, event: JobEventName) -> Callable[[JobHook], JobHook]: ...

    @overload
    def on(self, event: WorkerEventName) -> Callable[[WorkerHook], WorkerHook]: ...

    def on(self, event: str) -> Callable[[H], H]:
        """Register a lifecycle hook: ``@app.on("job_failed")`` above ``def f(event): ...``.

        Job events (``job_started``, ``job_succeeded``, ``job_failed``, ``job_retried``,
        ``job_snoozed``, ``job_dead``, ``job_cancelled``) call it with a
        :class:`pgqueue.JobEvent`; ``worker_started`` / ``worker_stopping`` with the
        :class:`pgqueue.Worker`. Called in the worker process, once per transition, after
        it is committed (``job_started``: after the claim). A hook that raises is logged
        and ignored. Raises InvalidOption for an unknown event or an ``async def`` hook.
        """

        def register(fn: H) -> H:
            self.hooks.add(event, fn)
            return fn

        return register

    def middleware(self, fn: Middleware) -> Middleware:
        """Wrap every task attempt: ``fn(ctx)`` returns a context manager entered around
        the task call (on its thread, or inside its asyncio task for ``async def`` tasks,
        which may also get an async context manager). First registered is outermost;
        an exception from a middleware fails the attempt like one from the task.
        Raises InvalidOption when ``fn`` itself is ``async def``.
        """
        self.hooks.add_middleware(fn)
        return fn

    @property
    def metrics(self) -> Metrics:
        """Prometheus metrics of this app's workers (needs ``prometheus-client``, extra
        ``pgqueue[metrics]``): ``app.metrics.serve(9464)``, ``app.metrics.registry``.
        Made on first access; from then on workers of this app record into it."""
        if self._metrics is None:
            from ._metrics import Metrics

            self._metrics = Metrics(self)
        return self._metrics

