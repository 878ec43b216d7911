"""Tasks: the functions a worker runs, with their per-task defaults."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

if TYPE_CHECKING:
    from .app import App
    from .job import Job

P = ParamSpec("P")
R = TypeVar("R")

BackoffFn = Callable[[int], float]
"""``backoff(attempt) -> seconds`` before the next attempt (attempt counts from 1)."""


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-task defaults; every enqueue may override the enqueue-time ones."""

    name: str
    queue: str
    priority: int = 0
    max_attempts: int = 5
    timeout: float | None = None
    """Seconds one attempt may run before it is failed (None: no limit)."""
    bind: bool = False
    """Pass a :class:`~pgqueue.Context` as the first argument."""
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
    unique_key: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class EnqueueOptions:
    """What one enqueue may set beyond the task's defaults."""

    conn: Any = None
    queue: str | None = None
    priority: int | None = None
    delay: float | None = None
    run_at: datetime | None = None
    unique_key: str | None = None
    max_attempts: int | None = None
    tags: Sequence[str] | None = None


class Task(Generic[P, R]):
    """A registered task. Calling it runs the function in-process; ``enqueue`` makes a job."""

    def __init__(self, app: App, fn: Callable[P, R], options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.options = options
        self.name = options.name
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def configure(self, **options: Any) -> Configured[P, R]:
        """Enqueue-time options: ``conn``, ``queue``, ``priority``, ``delay``, ``run_at``,
        ``unique_key``, ``max_attempts``, ``tags``. Unknown names raise InvalidOption."""
        return Configured(self, EnqueueOptions(**_checked_options(options)))

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Enqueue one job in its own short transaction (or the caller's, via ``configure``)."""
        return Configured(self, EnqueueOptions()).enqueue(*args, **kwargs)

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        return await Configured(self, EnqueueOptions()).enqueue_async(*args, **kwargs)

    def enqueue_many(self, items: Iterable[Sequence[Any] | dict[str, Any]]) -> list[int]:
        return Configured(self, EnqueueOptions()).enqueue_many(items)


class Configured(Generic[P, R]):
    """A task with enqueue-time options bound; same ``enqueue*`` methods as the task."""

    def __init__(self, task: Task[P, R], options: EnqueueOptions) -> None:
        self.task = task
        self.options = options

    def configure(self, **options: Any) -> Configured[P, R]:
        return Configured(self.task, replace(self.options, **_checked_options(options)))

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        from . import _enqueue

        return _enqueue.enqueue_one(self.task.app, self.task.options, self.options, args, kwargs)

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        from . import _enqueue

        return await _enqueue.enqueue_one_async(
            self.task.app, self.task.options, self.options, args, kwargs
        )

    def enqueue_many(self, items: Iterable[Sequence[Any] | dict[str, Any]]) -> list[int]:
        from . import _enqueue

        return _enqueue.enqueue_many(self.task.app, self.task.options, self.options, items)


def _checked_options(options: dict[str, Any]) -> dict[str, Any]:
    from .errors import InvalidOption

    allowed = set(EnqueueOptions.__dataclass_fields__)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidOption(
            f"unknown enqueue option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return options
