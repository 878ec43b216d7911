"""The options of a task and of one enqueue: plain data every layer reads.

``TaskOptions`` are a task's defaults (``@app.task(...)``), ``EnqueueOptions`` what one
enqueue may set on top (``task.configure(...)``); the TypedDicts mirror them for type
checkers. Nothing here imports the rest of pgqueue beyond errors and the Celery name map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypedDict

from ._compat import unknown_names
from .errors import InvalidOption


class JobRef(Protocol):
    """A job as ``depends_on`` takes it: anything with the job's ``id`` (a Job)."""

    @property
    def id(self) -> int: ...

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
    depends_on: Sequence[JobRef | int] | None
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


def checked_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` if every name is an enqueue option; raises InvalidOption otherwise."""
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise InvalidOption(unknown_names("enqueue option", unknown, _OPTION_NAMES))
    return options


_OPTION_NAMES = frozenset(f.name for f in fields(EnqueueOptions))


def refuse_call_options(options: dict[str, Any]) -> None:
    """Raise InvalidOption for apply_async options that are not native ones."""
    valid = set(NativeOptionsDict.__optional_keys__)
    unknown = set(options) - valid
    if unknown:
        allowed = valid | {"args", "kwargs", "countdown", "eta", "expires", "queue",
                           "priority", "conn", "link", "link_error"}
        raise InvalidOption(unknown_names("enqueue option", unknown, allowed))
