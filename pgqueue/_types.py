"""What the layers below :class:`pgqueue.App` use of an app and of a task, as protocols.

``App`` sits on top of the modules that enqueue, read jobs and run admin commands; those
modules take an :class:`AppLike` (and a :class:`TaskLike`) instead of importing ``App``,
so no import, at run time or for the type checker, points back up (the import-linter
contracts in pyproject.toml keep it so). ``App`` and ``Task`` satisfy them as they are.
"""

from __future__ import annotations

from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ._options import TaskOptions
from ._settings import Retention, Settings
from ._validate import ArgsCheck
from ._wake import Wakeups


class AppLike(Protocol):
    """An app as the enqueue, job, admin and dashboard code sees it (``App`` is one)."""

    settings: Settings
    wakeups: Wakeups

    @property
    def dsn(self) -> str:
        """The resolved DSN."""

    @property
    def pool(self) -> Any:
        """pgqueue's own (sync, autocommit) connection pool."""

    async def async_pool(self) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
        """pgqueue's async pool, made on the running event loop."""

    @property
    def retention(self) -> Retention:
        """How long finished jobs are kept."""

    def get_task(self, name: str) -> TaskLike:
        """The registered task ``name``; raises UnknownTask."""


class TaskLike(Protocol):
    """A task as a workflow step or an enqueue sees it (``Task`` is one)."""

    name: str
    options: TaskOptions

    @property
    def app(self) -> AppLike:
        """The app the task is registered on."""

    @property
    def check(self) -> ArgsCheck:
        """Checks enqueue arguments against the function's signature."""
