"""Bulk enqueue: COPY in batches, ids in item order, one wake-up per queue, all or nothing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue import _enqueue_many
from pgqueue._worker.due import parse_wake
from pgqueue.errors import InvalidPayload

from .enqueue_support import Listener, count_jobs, counting_connection, statements, table_snapshot

N = 100_000


@pytest.fixture
def listener(dsn: str) -> Iterator[Listener]:
    lst = Listener(dsn)
    yield lst
    lst.close()


def bulk_app(dsn: str) -> pgqueue.App:
    app = pgqueue.App(dsn=dsn)

    @app.task(name="bulk.work", queue="bulk")
    def work(n: int, label: str = "") -> None: ...

    @app.task(name="bulk.keyed", unique_key=lambda n, label="": f"keyed:{n}" if n >= 0 else None)
    def keyed(n: int, label: str = "") -> None: ...

    return app


def test_100k_jobs_in_one_round_trip_per_batch_and_one_wake_up(dsn: str, listener: Listener) -> None:
    with bulk_app(dsn) as app:
        work = app.tasks["bulk.work"]

        # on pgqueue's own connection: committed on return, woken once
        ids = work.enqueue_many((i,) for i in range(N))
        assert len(ids) == N == len(set(ids)) == count_jobs(dsn)
        assert ids == sorted(ids)  # item order
        assert listener.drain() == {"bulk": 1}

        # in the caller's transaction: count the statements sent
        conn = counting_connection(dsn)
        with conn:
            ids2 = work.configure(conn=conn).enqueue_many([{"n": i, "label": "x"} for i in range(N)])
            sent = statements(conn)
            batches = math.ceil(N / _enqueue_many.BATCH_ROWS)
            assert sent["copy"] <= batches
            # the COPY plus at most one more round trip per batch (ids), plus a savepoint
            assert sent["execute"] + sent["copy"] <= 2 * batches + 2
            assert listener.drain() == {}  # not before the commit
            conn.commit()
        assert count_jobs(dsn) == 2 * N
        assert listener.drain() == {"bulk": 1}
        with psycopg.connect(dsn) as c:
            first, last = c.execute(
                "SELECT (SELECT kwargs FROM pgqueue.jobs WHERE id = %s),"
                "       (SELECT kwargs FROM pgqueue.jobs WHERE id = %s)",
                (ids2[0], ids2[-1]),
            ).fetchone() or (None, None)
        assert first == {"n": 0, "label": "x"} and last == {"n": N - 1, "label": "x"}


def test_items_keep_their_order_and_arguments(dsn: str) -> None:
    with bulk_app(dsn) as app:
        work = app.tasks["bulk.work"]
        items: list[Any] = [(1,), {"n": 2}, [3, "three"], {"n": 4, "label": 'tab\tnl\n"q"\\'}]
        ids = work.configure(priority=5, tags=["t\\1", "x y"]).enqueue_many(items)
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT id, args, kwargs, priority, tags, queue, task FROM pgqueue.jobs ORDER BY id"
            ).fetchall()
        assert [r[0] for r in rows] == ids
        assert [(r[1], r[2]) for r in rows] == [
            ([1], {}), ([], {"n": 2}), ([3, "three"], {}), ([], {"n": 4, "label": 'tab\tnl\n"q"\\'}),
        ]
        assert {(r[3], tuple(r[4]), r[5], r[6]) for r in rows} == {
            (5, ("t\\1", "x y"), "bulk", "bulk.work")
        }
        assert work.enqueue_many([]) == []
        assert app.enqueue_many("bulk.work", [(9,)], queue="other") != []
        assert count_jobs(dsn, "queue = 'other'") == 1

        async def by_name_async() -> list[int]:  # the async twin, by name, same behaviour
            try:
                return await app.enqueue_many_async("bulk.work", [(10,), {"n": 11}], queue="other")
            finally:
                await app.aclose()

        async_ids = asyncio.run(by_name_async())
        with psycopg.connect(dsn) as conn:
            got = conn.execute(
                "SELECT id, args, kwargs, queue FROM pgqueue.jobs WHERE id = ANY(%s) ORDER BY id",
                (async_ids,),
            ).fetchall()
        assert got == [(async_ids[0], [10], {}, "other"), (async_ids[1], [], {"n": 11}, "other")]


def test_delayed_bulk_wakes_no_one_now_and_names_its_run_at(dsn: str, listener: Listener) -> None:
    with bulk_app(dsn) as app:
        app.tasks["bulk.work"].configure(delay=600).enqueue_many([(i,) for i in range(100)])
        got = listener.drain()
        # No claim now: one scheduled wake-up per statement, "<queue> <run_at>" (0010).
        assert got and all(parse_wake(p)[1] is not None for p in got)
        assert count_jobs(dsn, "run_at > now() + interval '500 seconds'") == 100


@pytest.mark.parametrize(
    "bad",
    [
        [(1,), "not an item"],
        [(1,), 5],
        [(1,), ({1, 2},)],
        [(1,), (1, 2, 3)],  # too many arguments for the task
        [(1,), {"nope": 1}],
        [(i,) for i in range(_enqueue_many.BATCH_ROWS * 2)] + [(math.nan,)],  # bad item in batch 3
    ],
    ids=["str item", "int item", "set", "arity", "unknown kwarg", "late bad item"],
)
def test_a_bad_item_writes_nothing(dsn: str, bad: list[Any]) -> None:
    with bulk_app(dsn) as app:
        app.enqueue("x")
        before = table_snapshot(dsn)
        with pytest.raises(InvalidPayload):
            app.tasks["bulk.work"].enqueue_many(bad)
        assert table_snapshot(dsn) == before


def test_unique_keys_in_bulk_return_the_holder(dsn: str) -> None:
    with bulk_app(dsn) as app:
        keyed = app.tasks["bulk.keyed"]
        existing = keyed.enqueue(2).id
        ids = keyed.enqueue_many([(1,), (2,), (3,), (3, "again"), (-1,), {"n": 1}])
        assert ids[1] == existing
        assert ids[2] == ids[3]  # the first of two duplicates in one call wins
        assert ids[0] == ids[5]
        assert len({ids[0], ids[2], ids[4], existing}) == 4
        assert count_jobs(dsn) == 4  # 2 (existing), 1, 3, and the unkeyed -1
        # a fixed key for the whole call: one job
        fixed = app.tasks["bulk.work"].configure(unique_key="nightly").enqueue_many([(1,), (2,)])
        assert fixed[0] == fixed[1]
        assert count_jobs(dsn) == 5


def test_enqueue_many_async_on_the_async_pool(dsn: str, listener: Listener) -> None:
    app = bulk_app(dsn)

    async def main() -> tuple[list[int], list[int]]:
        async with app:
            plain = await app.tasks["bulk.work"].enqueue_many_async([(i,) for i in range(25_000)])
            keyed = await app.tasks["bulk.keyed"].enqueue_many_async([(1,), (1,), (2,)])
            return plain, keyed

    plain, keyed = asyncio.run(main())
    assert len(plain) == 25_000 and plain == sorted(plain)
    assert keyed[0] == keyed[1] != keyed[2]
    assert count_jobs(dsn) == 25_002
    assert listener.drain() == {"bulk": 1, "default": 1}
