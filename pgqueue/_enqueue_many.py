"""Bulk enqueue: many jobs in one transaction, COPY in batches.

Per batch of :data:`BATCH_ROWS` items: one round trip reserves ids from the
identity sequence (COPY cannot return them), one COPY writes the rows. Items
whose job has a unique key go through ``enqueue_unique.sql`` instead (one more
round trip per batch), because COPY cannot skip a conflicting row.

Everything runs inside :func:`pgqueue._conn.transaction`: pgqueue's own
transaction without ``conn``, a savepoint in the caller's transaction with it. A
bad item anywhere, or any error, leaves nothing written. The NOTIFY trigger
fires per statement, and Postgres folds identical notifications of one
transaction, so each queue is woken once per call, at commit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import _conn
from ._enqueue import insert_unique, insert_unique_async, params, payload
from ._sql import query
from ._validate import ArgsCheck, Resolved, resolve
from .errors import InvalidPayload
from .task import EnqueueOptions, Item, TaskOptions

if TYPE_CHECKING:
    from .app import App

BATCH_ROWS = 10_000
"""Jobs per round trip: large enough that latency vanishes, small enough to stream."""


class Batch:
    """One batch of encoded jobs, split into COPY rows and unique-key rows."""

    __slots__ = ("args", "keys", "kwargs", "plain", "unique")

    def __init__(self, app: App, r: Resolved, check: ArgsCheck | None, items: list[Item]) -> None:
        self.args: list[str] = []
        self.kwargs: list[str] = []
        self.keys: list[str | None] = []
        for item in items:
            if isinstance(item, tuple | list):
                a, k, key = payload(app, r, check, item, {})
            elif isinstance(item, Mapping):
                a, k, key = payload(app, r, check, (), item)
            else:
                raise InvalidPayload(
                    "each enqueue_many item must be a tuple of positional arguments or a dict "
                    f"of keyword arguments, got {type(item).__name__}"
                )
            self.args.append(a)
            self.kwargs.append(k)
            self.keys.append(key)
        if r.unique_key is None and r.key_fn is None:
            self.plain: Sequence[int] = range(len(items))
            self.unique: list[int] = []
        else:
            self.plain = [i for i, key in enumerate(self.keys) if key is None]
            self.unique = [i for i, key in enumerate(self.keys) if key is not None]

    def copy_rows(
        self, r: Resolved, ids: list[int], db_now: datetime
    ) -> Iterator[tuple[Any, ...]]:
        run_at = r.run_at or db_now + timedelta(seconds=r.delay or 0.0)
        queue, task, priority, attempts, tags = r.queue, r.task, r.priority, r.max_attempts, r.tags
        args, kwargs = self.args, self.kwargs
        for job_id, i in zip(ids, self.plain, strict=True):
            yield (job_id, queue, task, args[i], kwargs[i], priority, attempts, run_at, tags)

    def unique_lists(self) -> tuple[list[str], list[str], list[str]]:
        keys = [self.keys[i] or "" for i in self.unique]
        return [self.args[i] for i in self.unique], [self.kwargs[i] for i in self.unique], keys

    def ids(self, plain_ids: list[int], found: dict[str, int]) -> list[int]:
        out = [0] * len(self.args)
        for job_id, i in zip(plain_ids, self.plain, strict=True):
            out[i] = job_id
        for i in self.unique:
            key = self.keys[i]
            assert key is not None
            out[i] = found[key]
        return out


def _batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    if isinstance(items, str | bytes | Mapping):
        raise InvalidPayload("enqueue_many takes an iterable of items (tuples or dicts)")
    it = iter(items)
    while batch := list(itertools.islice(it, BATCH_ROWS)):
        yield batch


def enqueue_many(
    app: App,
    task: TaskOptions,
    options: EnqueueOptions,
    items: Iterable[Item],
    check: ArgsCheck | None = None,
) -> list[int]:
    """Write one job per item, all or nothing; returns the ids in item order."""
    r = resolve(task, options)
    base = params(r)
    out: list[int] = []
    batches = _batches(items)
    first = next(batches, None)
    if first is None:
        return out
    # The first batch is checked before the database is touched: most calls fit in one.
    prepared = Batch(app, r, check, first)
    with _conn.transaction(app, options.conn) as pg:
        for items_batch in itertools.chain([None], batches):
            batch = prepared if items_batch is None else Batch(app, r, check, items_batch)
            plain_ids: list[int] = []
            if batch.plain:
                cur = pg.cursor(binary=True)
                row = cur.execute(query("enqueue_reserve_ids"), {"n": len(batch.plain)}).fetchone()
                assert row is not None
                plain_ids, db_now = row
                with pg.cursor().copy(query("enqueue_copy")) as copy:
                    for values in batch.copy_rows(r, plain_ids, db_now):
                        copy.write_row(values)
            found = insert_unique(pg, base, *batch.unique_lists()) if batch.unique else {}
            out.extend(batch.ids(plain_ids, found))
    return out


async def enqueue_many_async(
    app: App,
    task: TaskOptions,
    options: EnqueueOptions,
    items: Iterable[Item],
    check: ArgsCheck | None = None,
) -> list[int]:
    """The async twin of :func:`enqueue_many`."""
    r = resolve(task, options)
    base = params(r)
    out: list[int] = []
    batches = _batches(items)
    first = next(batches, None)
    if first is None:
        return out
    # The first batch is checked before the database is touched: most calls fit in one.
    prepared = Batch(app, r, check, first)
    async with _conn.atransaction(app, options.conn) as apg:
        for items_batch in itertools.chain([None], batches):
            batch = prepared if items_batch is None else Batch(app, r, check, items_batch)
            plain_ids: list[int] = []
            if batch.plain:
                cur = apg.cursor(binary=True)
                await cur.execute(query("enqueue_reserve_ids"), {"n": len(batch.plain)})
                row = await cur.fetchone()
                assert row is not None
                plain_ids, db_now = row
                async with apg.cursor().copy(query("enqueue_copy")) as copy:
                    for values in batch.copy_rows(r, plain_ids, db_now):
                        await copy.write_row(values)
            found = (
                await insert_unique_async(apg, base, *batch.unique_lists()) if batch.unique else {}
            )
            out.extend(batch.ids(plain_ids, found))
    return out
