"""Bulk enqueue: many jobs in one transaction, with COPY.

Without unique keys (the common case): one round trip reserves every id from the
identity sequence (COPY cannot return them), then one COPY is fed batch by batch
(:data:`BATCH_ROWS` items each), the next batch encoded while the server parses
the previous one. With unique keys, per batch: the unkeyed items go in with
their own COPY, the keyed ones through ``enqueue_unique.sql`` (COPY cannot skip
a conflicting row).

Everything runs inside :func:`pgqueue._conn.transaction`: pgqueue's own
transaction without ``conn``, a savepoint in the caller's transaction with it. A
bad item anywhere, or any error, leaves nothing written. The NOTIFY trigger
fires per statement, and Postgres folds identical notifications of one
transaction, so each queue is woken once per call, at commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.copy import QueuedLibpqWriter
from psycopg.rows import class_row

from . import _conn
from ._enqueue import insert_unique, insert_unique_async, params, payload
from ._options import EnqueueOptions, Item, TaskOptions
from ._sql import query
from ._validate import ArgsCheck, Resolved, check_size, encode, resolve
from .errors import InvalidPayload

if TYPE_CHECKING:
    from ._types import AppLike

BATCH_ROWS = 10_000
"""Jobs per round trip: large enough that latency vanishes, small enough to stream."""


class Batch:
    """One batch of encoded jobs, split into COPY rows and unique-key rows."""

    __slots__ = ("args", "keys", "kwargs", "plain", "unique")

    def __init__(
        self, app: AppLike, r: Resolved, check: ArgsCheck | None, items: Sequence[Item]
    ) -> None:
        # The hot loop of bulk enqueue: the common shapes inline, the rest via payload().
        cap = app.settings.max_payload_bytes
        per_job_key = r.key_fn is not None
        args: list[str] = []
        kwargs: list[str] = []
        keys: list[str | None] = []
        for item in items:
            kind = type(item)
            if (kind is tuple or kind is list) and not per_job_key:
                if check is not None:
                    check(item, _NO_KWARGS)  # type: ignore[arg-type]
                a = encode(item, "task arguments")
                if len(a) + 2 > cap:
                    check_size(a, "{}", cap)
                args.append(a)
                kwargs.append("{}")
            elif isinstance(item, tuple | list):
                a, k, key = payload(app, r, check, item, _NO_KWARGS)
                args.append(a)
                kwargs.append(k)
                keys.append(key)
            elif isinstance(item, Mapping):
                a, k, key = payload(app, r, check, (), item)
                args.append(a)
                kwargs.append(k)
                if per_job_key:
                    keys.append(key)
            else:
                raise InvalidPayload(
                    "each enqueue_many item must be a tuple of positional arguments or a dict "
                    f"of keyword arguments, got {type(item).__name__}"
                )
        self.args = args
        self.kwargs = kwargs
        if per_job_key:
            self.keys = keys
        else:
            self.keys = [r.unique_key] * len(args)
        if all(key is None for key in self.keys):
            self.plain: Sequence[int] = range(len(args))
            self.unique: list[int] = []
        else:
            self.plain = [i for i, key in enumerate(self.keys) if key is None]
            self.unique = [i for i, key in enumerate(self.keys) if key is not None]

    def copy_data(self, r: Resolved, ids: list[int], db_now: datetime) -> str:
        """The COPY text for the plain rows (columns as in enqueue_copy.sql).

        Built by hand because it is several times faster than per-row adaptation.
        COPY text format needs backslash, tab, newline and carriage return escaped:
        names cannot contain them, and JSON from the encoder has no raw control
        characters (json escapes them), so JSON only needs its backslashes doubled.
        """
        run_at = r.run_at or db_now + timedelta(seconds=r.delay or 0.0)
        expires_at = r.expires_at
        if expires_at is None and r.expires_in is not None:
            expires_at = db_now + timedelta(seconds=r.expires_in)
        tail = "\t".join(
            ["", r.queue, r.task, str(r.priority), str(r.max_attempts), run_at.isoformat(),
             _copy_escape(_array_literal(r.tags)),
             "\\N" if r.serial_key is None else _copy_escape(r.serial_key),
             "\\N" if expires_at is None else expires_at.isoformat()]
        ) + "\n"
        bs, bs2 = "\\", "\\\\"
        args, kwargs = self.args, self.kwargs
        if isinstance(self.plain, range):
            rows = zip(ids, args, kwargs, strict=True)
        else:
            rows = zip(ids, [args[i] for i in self.plain], [kwargs[i] for i in self.plain], strict=True)
        return "".join([
            f"{job_id}\t{a.replace(bs, bs2)}\t{k.replace(bs, bs2)}{tail}" for job_id, a, k in rows
        ])

    def unique_lists(self) -> tuple[list[str], list[str], list[str]]:
        keys = [self.keys[i] or "" for i in self.unique]
        return [self.args[i] for i in self.unique], [self.kwargs[i] for i in self.unique], keys

    def ids(self, plain_ids: list[int], found: dict[str, int]) -> list[int]:
        if not self.unique:
            return plain_ids
        out = [0] * len(self.args)
        for job_id, i in zip(plain_ids, self.plain, strict=True):
            out[i] = job_id
        for i in self.unique:
            key = self.keys[i]
            assert key is not None
            out[i] = found[key]
        return out


_NO_KWARGS: dict[str, Any] = {}


def _array_literal(values: list[str]) -> str:
    """A text[] literal: every element double-quoted, with \\ and " escaped."""
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    return "{" + ",".join(quoted) + "}"


def _copy_escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _chunks(items: Iterable[Item]) -> list[Sequence[Item]]:
    if isinstance(items, str | bytes | Mapping):
        raise InvalidPayload("enqueue_many takes an iterable of items (tuples or dicts)")
    seq = items if isinstance(items, list | tuple) else list(items)
    return [seq[i : i + BATCH_ROWS] for i in range(0, len(seq), BATCH_ROWS)]


def enqueue_many(
    app: AppLike,
    task: TaskOptions,
    options: EnqueueOptions,
    items: Iterable[Item],
    check: ArgsCheck | None = None,
) -> list[int]:
    """Write one job per item, all or nothing; returns the ids in item order."""
    r = resolve(task, options)
    chunks = _chunks(items)
    if not chunks:
        return []
    # The first batch is checked before the database is touched: most calls fit in one.
    first = Batch(app, r, check, chunks[0])
    with _conn.transaction(app, options.conn) as pg:
        if r.unique_key is None and r.key_fn is None:
            return _copy_stream(pg, app, r, check, first, chunks)
        out: list[int] = []
        for i, chunk in enumerate(chunks):
            batch = first if i == 0 else Batch(app, r, check, chunk)
            plain_ids: list[int] = []
            if batch.plain:
                plain_ids, db_now = _reserve(pg, len(batch.plain))
                with pg.cursor().copy(query("enqueue_copy")) as copy:
                    copy.write(batch.copy_data(r, plain_ids, db_now))
            found = insert_unique(pg, params(r), *batch.unique_lists()) if batch.unique else {}
            out.extend(batch.ids(plain_ids, found))
        return out


@dataclass(frozen=True, slots=True)
class ReserveRow:
    """The row of enqueue_reserve_ids.sql."""

    ids: list[int]
    """Fresh job ids, ascending."""
    db_now: datetime
    """The database's clock, to date delayed jobs with."""


def _reserve(pg: _conn.Conn, n: int) -> tuple[list[int], datetime]:
    cur = pg.cursor(binary=True, row_factory=class_row(ReserveRow))
    row = cur.execute(query("enqueue_reserve_ids"), {"n": n}).fetchone()
    assert row is not None
    return row.ids, row.db_now


def _copy_stream(
    pg: _conn.Conn,
    app: AppLike,
    r: Resolved,
    check: ArgsCheck | None,
    first: Batch,
    chunks: list[Sequence[Item]],
) -> list[int]:
    """No unique keys: all ids in one round trip, then one COPY fed batch by batch.

    The next batch is encoded while the server still parses the previous one (a
    writer thread sends the data), so client and server work side by side.
    """
    ids, db_now = _reserve(pg, sum(len(c) for c in chunks))
    with pg.cursor() as cur, cur.copy(query("enqueue_copy"), writer=QueuedLibpqWriter(cur)) as copy:
        pos = 0
        for i, chunk in enumerate(chunks):
            batch = first if i == 0 else Batch(app, r, check, chunk)
            n = len(batch.args)
            copy.write(batch.copy_data(r, ids[pos : pos + n], db_now))
            pos += n
    return ids


async def enqueue_many_async(
    app: AppLike,
    task: TaskOptions,
    options: EnqueueOptions,
    items: Iterable[Item],
    check: ArgsCheck | None = None,
) -> list[int]:
    """The async twin of :func:`enqueue_many`."""
    r = resolve(task, options)
    chunks = _chunks(items)
    if not chunks:
        return []
    first = Batch(app, r, check, chunks[0])
    out: list[int] = []
    async with _conn.atransaction(app, options.conn) as apg:
        if r.unique_key is None and r.key_fn is None:
            ids, db_now = await _reserve_async(apg, sum(len(c) for c in chunks))
            async with apg.cursor() as cur, cur.copy(query("enqueue_copy")) as copy:
                for i, chunk in enumerate(chunks):
                    batch = first if i == 0 else Batch(app, r, check, chunk)
                    n = len(batch.args)
                    await copy.write(batch.copy_data(r, ids[len(out) : len(out) + n], db_now))
                    out.extend(ids[len(out) : len(out) + n])
            return out
        for i, chunk in enumerate(chunks):
            batch = first if i == 0 else Batch(app, r, check, chunk)
            plain_ids: list[int] = []
            if batch.plain:
                plain_ids, db_now = await _reserve_async(apg, len(batch.plain))
                async with apg.cursor().copy(query("enqueue_copy")) as copy:
                    await copy.write(batch.copy_data(r, plain_ids, db_now))
            found = (
                await insert_unique_async(apg, params(r), *batch.unique_lists())
                if batch.unique
                else {}
            )
            out.extend(batch.ids(plain_ids, found))
    return out


async def _reserve_async(apg: _conn.AsyncConn, n: int) -> tuple[list[int], datetime]:
    cur = apg.cursor(binary=True, row_factory=class_row(ReserveRow))
    await cur.execute(query("enqueue_reserve_ids"), {"n": n})
    row = await cur.fetchone()
    assert row is not None
    return row.ids, row.db_now
