"""Turning an enqueue call into a validated row and writing it.

(Foundation version: single enqueue on the pool or a psycopg connection. The
enqueue issue extends it with every connection kind, bulk COPY and unique keys.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from ._settings import SMALLINT_MAX, SMALLINT_MIN, check_name
from ._sql import query
from .errors import InvalidOption, InvalidPayload, PayloadTooLarge
from .job import Job
from .task import EnqueueOptions, TaskOptions

if TYPE_CHECKING:
    from .app import App


def validate_task_options(opts: TaskOptions) -> None:
    """Raise InvalidOption for task defaults that could never make a valid job."""
    _check_priority(opts.priority)
    _check_max_attempts(opts.max_attempts)
    if opts.timeout is not None and not opts.timeout > 0:
        raise InvalidOption(f"timeout must be > 0 seconds or None, got {opts.timeout!r}")


def _check_priority(priority: object) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidOption(f"priority must be an int, got {priority!r}")
    if not SMALLINT_MIN <= priority <= SMALLINT_MAX:
        raise InvalidOption(
            f"priority must be between {SMALLINT_MIN} and {SMALLINT_MAX}, got {priority}"
        )
    return priority


def _check_max_attempts(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidOption(f"max_attempts must be an int >= 1, got {value!r}")
    return value


def encode(value: Any, what: str) -> str:
    """Strict JSON (no NaN/Infinity, no sets/bytes/objects); raises InvalidPayload."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} must be JSON-serialisable: {exc}") from None


def build_row(
    app: App,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    queue = check_name(options.queue or task.queue, "queue")
    priority = _check_priority(task.priority if options.priority is None else options.priority)
    max_attempts = _check_max_attempts(
        task.max_attempts if options.max_attempts is None else options.max_attempts
    )
    run_at = _run_at(options)
    args_json = encode(list(args), "task arguments")
    kwargs_json = encode(dict(kwargs), "task keyword arguments")
    size = len(args_json) + len(kwargs_json)
    if size > app.settings.max_payload_bytes:
        raise PayloadTooLarge(
            f"job arguments are {size} bytes, over the {app.settings.max_payload_bytes}-byte cap "
            "(max_payload_bytes); store large data elsewhere and pass a reference"
        )
    return {
        "queue": queue,
        "task": task.name,
        "args": Jsonb(None, dumps=lambda _: args_json),
        "kwargs": Jsonb(None, dumps=lambda _: kwargs_json),
        "priority": priority,
        "max_attempts": max_attempts,
        "run_at": run_at,
        "unique_key": options.unique_key if options.unique_key is not None else task.unique_key,
        "tags": list(options.tags if options.tags is not None else task.tags),
    }


def _run_at(options: EnqueueOptions) -> datetime | None:
    if options.run_at is not None and options.delay is not None:
        raise InvalidOption("give either delay or run_at, not both")
    if options.delay is not None:
        delay = options.delay
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        if not isinstance(delay, int | float) or math.isnan(delay) or delay < 0:
            raise InvalidOption(f"delay must be a number of seconds >= 0, got {options.delay!r}")
        return datetime.now(UTC) + timedelta(seconds=delay)
    if options.run_at is not None:
        if options.run_at.tzinfo is None:
            raise InvalidOption("run_at must be timezone-aware (e.g. datetime.now(UTC))")
        return options.run_at
    return None


def enqueue_one(
    app: App,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> Job:
    row = build_row(app, task, options, args, kwargs)
    if options.conn is not None:
        cur = options.conn.execute(query("enqueue"), row)
        job_id = cur.fetchone()[0]
    else:
        with app.pool.connection() as conn:
            job_id = conn.execute(query("enqueue"), row).fetchone()[0]
    return Job(app, job_id)


async def enqueue_one_async(
    app: App,
    task: TaskOptions,
    options: EnqueueOptions,
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> Job:
    raise NotImplementedError("enqueue_async arrives with the enqueue issue")


def enqueue_many(
    app: App,
    task: TaskOptions,
    options: EnqueueOptions,
    items: Iterable[Sequence[Any] | dict[str, Any]],
) -> list[int]:
    raise NotImplementedError("enqueue_many arrives with the enqueue issue")
