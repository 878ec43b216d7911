"""pgqueue's async pool follows the running event loop, even when the previous loop was
only stopped (a Worker's executor loop after ``stop()``), never closed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

from pgqueue._apool import LazyAsyncPool
from tests.helpers import wait_for

HANG_S = 120
"""A guard against a hang, not a time limit: every step here takes well under a second."""


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


ENDS = """
import asyncio, sys
from pgqueue._apool import LazyAsyncPool

apool = LazyAsyncPool(lambda: sys.argv[1], 4, 8)


async def main() -> None:
    await apool.get()  # and return at once, the pool left open


for _ in range(20):
    asyncio.run(main())
print("every loop ended")
"""


def test_asyncio_run_ends_with_the_pool_left_open(dsn: str) -> None:
    """``asyncio.run`` cancels what is left when its coroutine returns; that used to land
    in a pool worker opening a connection, which swallowed it, and the run never ended."""
    done = subprocess.run(
        [sys.executable, "-c", ENDS, dsn], capture_output=True, text=True, timeout=HANG_S
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "every loop ended"
    assert "error connecting" not in done.stderr  # no cancelled connection attempt logged


def test_two_loops_in_two_threads_each_keep_their_own_pool(dsn: str) -> None:
    apool = LazyAsyncPool(lambda: dsn, 0, 2)
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        theirs = asyncio.run_coroutine_threadsafe(apool.get(), other).result(timeout=HANG_S)

        async def ours() -> tuple[object, object]:
            mine = await apool.get()
            again = asyncio.run_coroutine_threadsafe(apool.get(), other).result(timeout=HANG_S)
            return mine, again

        mine, again = asyncio.run(ours())
        assert again is theirs and mine is not theirs  # neither loop took the other's pool
        assert not theirs.closed
    finally:
        apool.close()  # the other loop's pool is closed on its own loop
        wait_for(lambda: theirs.closed, timeout=HANG_S)
        other.call_soon_threadsafe(other.stop)
        thread.join(timeout=HANG_S)
        other.close()
