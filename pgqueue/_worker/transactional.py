"""Transactional tasks: the task's database writes commit with its completion, or not at all.

A task registered with ``transactional=True`` runs inside a transaction the worker opens
for its attempt, and receives it as ``ctx.conn`` (a psycopg connection; for a sync task
also ``ctx.session``, a SQLAlchemy Session on the same connection). When the task
returns, the fenced completion of its job (complete_success.sql for one row: state
``succeeded``, the result) runs **in that transaction**, and the transaction commits:

- the fence matched (this worker still holds this attempt): the task's writes, any jobs it
  enqueued through ``ctx.conn``/``ctx.session`` and the job's success commit together;
- the fence matched nothing (the lease was lost and the job rescued, re-claimed or
  cancelled), the attempt timed out, or an operator cancelled it: everything rolls back,
  and the attempt's outcome goes the usual way (a fenced-out write changes nothing);
- the task raised, or the commit failed: everything rolls back and the failure is
  recorded separately by the completer (retry or dead as usual).

So a job's database effects happen exactly once even though delivery is at least once.
The outcome of a committed attempt is marked ``written``: the completer reports it without
writing it again.

The sync path's transaction belongs to a SQLAlchemy engine of its own (one per App and
process, on pgqueue's DSN), so that ``ctx.session`` can join it; ``ctx.conn`` is that
connection's psycopg connection. The async path uses pgqueue's async pool; ``ctx.session``
is None there (SQLAlchemy's asyncio layer needs greenlet): use ``ctx.conn``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._sql import query
from . import outcome as oc

if TYPE_CHECKING:
    import sqlalchemy

    from ..app import App
    from ..context import Context

_ENGINES: dict[int, tuple[App, sqlalchemy.Engine]] = {}
_ENGINES_LOCK = threading.Lock()


class Execution(Protocol):
    """The attempt being run (:class:`pgqueue._worker.execution.Execution`, which calls here)."""

    committed: bool

    @property
    def app(self) -> App: ...
    @property
    def worker_id(self) -> uuid.UUID: ...
    def success(self, value: Any) -> oc.Outcome: ...


class _Abandon(Exception):
    """Leaves the transaction block so that it rolls back; never escapes this module."""


def _engine(app: App) -> sqlalchemy.Engine:
    with _ENGINES_LOCK:
        found = _ENGINES.get(id(app))
        if found is not None and found[0] is app:
            return found[1]
        import psycopg
        import sqlalchemy

        dsn = app.dsn
        size = app.settings.pool_max_size
        engine = sqlalchemy.create_engine(
            "postgresql+psycopg://",
            creator=lambda: psycopg.connect(dsn, application_name="pgqueue-worker-tx"),
            pool_size=size,
            max_overflow=size,
        )
        _ENGINES[id(app)] = (app, engine)
        return engine


def _params(execution: Execution, outcome: oc.Outcome) -> dict[str, Any]:
    return {
        "ids": [outcome.job_id],
        "attempts": [outcome.attempt],
        "results": [outcome.result],
        "worker": execution.worker_id,
    }


def call_sync(execution: Execution, ctx: Context, invoke: Callable[[], Any]) -> Any:
    """Run ``invoke()`` (the task, with ``ctx`` bound) in a transaction that also
    completes the job; returns what the task returned, raises what it raised."""
    from sqlalchemy.orm import Session

    engine = _engine(execution.app)
    with engine.connect() as sa_conn:
        conn: Any = sa_conn.connection.driver_connection  # the psycopg connection
        ctx.conn = conn
        ctx.session_factory = lambda: Session(bind=sa_conn, join_transaction_mode="create_savepoint")
        try:
            with sa_conn.begin() as tx:
                value = invoke()
                session = ctx._session
                if session is not None:
                    session.flush()  # what the task left pending is part of its effects
                outcome = execution.success(value)
                if outcome.kind is not oc.Kind.SUCCEEDED or not conn.execute(
                    query("complete_success"), _params(execution, outcome)
                ).fetchall():
                    tx.rollback()
                    return value
            execution.committed = True  # the block committed: success and effects are written
            return value
        finally:
            if ctx._session is not None:
                ctx._session.close()
            ctx.conn = ctx.session_factory = ctx._session = None


async def call_async(execution: Execution, ctx: Context, invoke: Callable[[], Awaitable[Any]]) -> Any:
    """The ``async def`` twin of :func:`call_sync` (``ctx.conn`` is an AsyncConnection)."""
    pool = await execution.app.async_pool()
    async with pool.connection() as conn:
        ctx.conn = conn
        try:
            try:
                async with conn.transaction():
                    value = await invoke()
                    outcome = execution.success(value)
                    if outcome.kind is not oc.Kind.SUCCEEDED:
                        raise _Abandon
                    cur = await conn.execute(query("complete_success"), _params(execution, outcome))
                    if not await cur.fetchall():
                        raise _Abandon
            except _Abandon:
                return value
            execution.committed = True
            return value
        finally:
            ctx.conn = None
