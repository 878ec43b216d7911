"""Writing one job: validated first, then one INSERT in one round trip.

Without ``conn`` the INSERT runs on pgqueue's pool in autocommit, so it is
committed when ``enqueue`` returns. With ``conn`` it runs in the caller's
transaction and lands (and wakes workers, via the NOTIFY trigger) only when the
caller commits. Unique keys use ``enqueue_unique.sql``: a duplicate returns the
live job holding the key. Bulk writes live in :mod:`pgqueue._enqueue_many`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from . import _conn, _tracing
from ._options import EnqueueOptions, TaskOptions
from ._sql import query
from ._validate import (
    ArgsCheck,
    Resolved,
    check_kwargs_keys,
    check_size,
    check_unique_key,
    encode,
    resolve,
    validate_task_options,
)
from .errors import InvalidPayload, PgQueueError
from .job import Job

if TYPE_CHECKING:
    from ._types import AppLike

__all__ = ["build_row", "enqueue_one", "enqueue_one_async", "validate_task_options"]

UNIQUE_ATTEMPTS = 20
"""Rounds of enqueue_unique.sql before giving up; each extra round needs another
transaction to have changed the key's holder in between, so 2 is already rare."""


def payload(
    app: AppLike,
    r: Resolved,
    check: ArgsCheck | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> tuple[str, str, str | None]:
    """(args JSON, kwargs JSON, unique key) for one job; raises InvalidPayload/PayloadTooLarge."""
    if check is not None:
        check(args, kwargs)
    elif kwargs:
        check_kwargs_keys(kwargs)
    args_json = encode(args if type(args) in (tuple, list) else list(args), "task arguments")
    kwargs_json = encode(kwargs, "task keyword arguments") if kwargs else "{}"
    check_size(args_json, kwargs_json, app.settings.max_payload_bytes)
    key = r.unique_key
    if r.key_fn is not None:
        key = check_unique_key(r.key_fn(*args, **kwargs))
    return args_json, kwargs_json, key


def params(r: Resolved) -> dict[str, Any]:
    """The statement parameters every job of one call shares."""
    return {
        "queue": r.queue,
        "task": r.task,
        "priority": r.priority,
        "max_attempts": r.max_attempts,
        "run_at": r.run_at,
        "delay": r.delay,
        "tags": r.tags,
        "serial_key": r.serial_key,
        "trace": None,
        "expires_in": r.expires_in,
        "expires_at": r.expires_at,
    }


def _unique_params(
    base: dict[str, Any], args: list[str], kwargs: list[str], keys: list[str]
) -> dict[str, Any]:
    return {**base, "args": args, "kwargs": kwargs, "unique_keys": keys}


@dataclass(frozen=True, slots=True)
class InsertRow:
    """A row of enqueue.sql."""

    id: int
    run_at_epoch: float | None
    """The job's run_at (epoch seconds, database clock) when it was inserted for later;
    None when it is due now."""


@dataclass(frozen=True, slots=True)
class UniqueRow:
    """A row of enqueue_unique.sql: the job (new or existing) holding a unique key."""

    id: int
    unique_key: str


def collect_unique(found: dict[str, int], rows: Sequence[UniqueRow]) -> None:
    for row in rows:
        found[row.unique_key] = row.id


def unique_gave_up(keys: Sequence[str]) -> PgQueueError:
    return PgQueueError(
        f"unique key(s) {list(keys)[:3]} kept changing hands while enqueueing; try again"
    )


def insert_unique(
    pg: _conn.Conn, base: dict[str, Any], args: list[str], kwargs: list[str], keys: list[str]
) -> dict[str, int]:
    """key -> id of the job that holds it (new or existing), for every key given."""
    found: dict[str, int] = {}
    todo = list(range(len(keys)))
    for _ in range(UNIQUE_ATTEMPTS):
        sql_params = _unique_params(
            base, [args[i] for i in todo], [kwargs[i] for i in todo], [keys[i] for i in todo]
        )
        cur = pg.cursor(row_factory=class_row(UniqueRow))
        collect_unique(found, cur.execute(query("enqueue_unique"), sql_params).fetchall())
        todo = [i for i in todo if keys[i] not in found]
        if not todo:
            return found
    raise unique_gave_up([keys[i] for i in todo])


async def insert_unique_async(
    apg: _conn.AsyncConn,
    base: dict[str, Any],
    args: list[str],
    kwargs: list[str],
    keys: list[str],
) -> dict[str, int]:
    """The async twin of :func:`insert_unique`."""
    found: dict[str, int] = {}
    todo = list(range(len(keys)))
    for _ in range(UNIQUE_ATTEMPTS):
        sql_params = _unique_params(
            base, [args[i] for i in todo], [kwargs[i] for i in todo], [keys[i] for i in todo]
        )
        cur = apg.cursor(row_factory=class_row(UniqueRow))
        await cur.execute(query("enqueue_unique"), sql_params)
        collect_unique(found, await cur.fetchall())
        todo = [i for i in todo if keys[i] not in found]
        if not todo:
            return found
    raise unique_gave_up([keys[i] for i in todo])


def _single(
    app: AppLike,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    check: ArgsCheck | None,
) -> tuple[dict[str, Any], str | None]:
    if not isinstance(kwargs, Mapping):
        raise InvalidPayload(f"kwargs must be a dict, got {type(kwargs).__name__}")
    r = resolve(task, options)
    args_json, kwargs_json, key = payload(app, r, check, args, kwargs)
    sql_params = params(r)
    sql_params["args"] = args_json
    sql_params["kwargs"] = kwargs_json
    sql_params["trace"] = _tracing.carrier()
    sql_params["wake"] = "on"
    return sql_params, key


def enqueue_one(
    app: AppLike,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    check: ArgsCheck | None = None,
) -> Job:
    """Validate, then write one job; returns its handle (the existing job for a duplicate key)."""
    with _tracing.enqueue_span(task.name, options.queue or task.queue) as span:
        sql_params, key = _single(app, task, options, args, kwargs, check)
        if options.conn is None:
            quiet = _may_be_quiet(app, sql_params, key)
            with app.pool.connection() as pg:
                job_id, run_at = _write_one(pg, sql_params, key, prepare=True)
            if quiet:  # committed: now its wake-up may be sent
                app.wakeups.owe(sql_params["queue"], run_at)
        else:
            job_id, _ = _write_one(_conn.resolve(options.conn), sql_params, key)
        _tracing.set_job_id(span, job_id)
        return Job(app, job_id)


def _may_be_quiet(app: AppLike, sql_params: dict[str, Any], key: str | None) -> bool:
    """Whether this autocommit enqueue skips its NOTIFY (sets ``wake``): only a job
    without a unique key whose queue had a wake-up from this process within the window
    (pgqueue._wake); the caller then owes the queue one after the commit (for a scheduled
    job, one that names its run_at)."""
    quiet = key is None and app.wakeups.quiet(sql_params["queue"])
    sql_params["wake"] = "off" if quiet else "on"
    return quiet


def _write_one(
    pg: _conn.Conn, sql_params: dict[str, Any], key: str | None, prepare: bool | None = None
) -> tuple[int, float | None]:
    """The job's id and, for a job scheduled for later, its run_at (epoch seconds).
    ``prepare=True`` only on pgqueue's own pool, where it takes effect on direct
    connections alone (pgqueue._db.prepare_if_direct); a caller's connection keeps its
    own prepare policy."""
    if key is None:
        cur = pg.cursor(row_factory=class_row(InsertRow))
        row = cur.execute(query("enqueue"), sql_params, prepare=prepare).fetchone()
        assert row is not None
        return row.id, row.run_at_epoch
    args, kwargs = sql_params.pop("args"), sql_params.pop("kwargs")
    return insert_unique(pg, sql_params, [args], [kwargs], [key])[key], None


async def enqueue_one_async(
    app: AppLike,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    check: ArgsCheck | None = None,
) -> Job:
    """The async twin of :func:`enqueue_one` (pgqueue's async pool, or an async ``conn``)."""
    with _tracing.enqueue_span(task.name, options.queue or task.queue) as span:
        sql_params, key = _single(app, task, options, args, kwargs, check)
        if options.conn is None:
            quiet = _may_be_quiet(app, sql_params, key)
            pool = await app.async_pool()
            async with pool.connection() as apg:
                job_id, run_at = await _write_one_async(apg, sql_params, key, prepare=True)
            if quiet:
                app.wakeups.owe(sql_params["queue"], run_at)
        else:
            apg = await _conn.resolve_async(options.conn)
            job_id, _ = await _write_one_async(apg, sql_params, key)
        _tracing.set_job_id(span, job_id)
        return Job(app, job_id)


async def _write_one_async(
    apg: _conn.AsyncConn, sql_params: dict[str, Any], key: str | None, prepare: bool | None = None
) -> tuple[int, float | None]:
    if key is None:
        cur = apg.cursor(row_factory=class_row(InsertRow))
        await cur.execute(query("enqueue"), sql_params, prepare=prepare)
        row = await cur.fetchone()
        assert row is not None
        return row.id, row.run_at_epoch
    args, kwargs = sql_params.pop("args"), sql_params.pop("kwargs")
    return (await insert_unique_async(apg, sql_params, [args], [kwargs], [key]))[key], None


def build_row(
    app: AppLike,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """One validated job as INSERT parameters, for other writers (workflows).

    Keys: queue, task, args/kwargs (jsonb-adapted), priority, max_attempts,
    run_at (aware datetime or None for now; a delay is counted from the client's
    clock here), delay (seconds or None), expires_at (likewise), unique_key, tags.
    """
    r = resolve(task, options)
    args_json, kwargs_json, key = payload(app, r, None, args, kwargs)
    run_at = r.run_at
    if run_at is None and r.delay is not None:
        run_at = datetime.now(UTC) + timedelta(seconds=r.delay)
    expires_at = r.expires_at
    if expires_at is None and r.expires_in is not None:
        expires_at = datetime.now(UTC) + timedelta(seconds=r.expires_in)
    row = params(r)
    row.update(
        run_at=run_at,
        expires_at=expires_at,
        args=Jsonb(None, dumps=lambda _: args_json),
        kwargs=Jsonb(None, dumps=lambda _: kwargs_json),
        unique_key=key,
    )
    return row
