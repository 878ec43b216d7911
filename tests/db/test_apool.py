"""pgqueue's async pool follows the running event loop, even when the previous loop was
only stopped (a Worker's executor loop after ``stop()``), never closed."""

from __future__ import annotations

import asyncio

from pgqueue._apool import LazyAsyncPool


def test_a_pool_made_on_a_stopped_loop_is_replaced_from_another_loop(dsn: str) -> None:
    apool = LazyAsyncPool(lambda: dsn, 0, 2)
    old = asyncio.new_event_loop()
    first = old.run_until_complete(apool.get())  # made on `old`, which stops but stays open

    async def use() -> object:
        pool = await apool.get()
        assert pool is not first
        async with pool.connection() as conn:
            return await (await conn.execute("SELECT 1")).fetchone()

    try:
        assert asyncio.run(use()) == (1,)  # used to raise: cannot run the old loop from this one
    finally:
        apool.close()
        old.run_until_complete(first.close())  # the dropped pool, on its own loop
        old.close()
