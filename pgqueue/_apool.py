"""An async pool made on first use, on the event loop that uses it.

asyncio pools belong to one event loop. Code that runs several loops one after
another (``asyncio.run`` twice, test frameworks) gets a fresh pool on each new
loop; the previous loop's pool is closed when that is still possible.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ._db import make_async_pool

Pool = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]


class LazyAsyncPool:
    """``await get()`` returns the running loop's pool, creating it once."""

    def __init__(self, dsn_factory: Callable[[], str], min_size: int, max_size: int) -> None:
        self._dsn_factory = dsn_factory
        self._min = min_size
        self._max = max_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[Pool] | None = None

    async def get(self) -> Pool:
        loop = asyncio.get_running_loop()
        future = self._future
        failed = future is not None and future.done() and (
            future.cancelled() or future.exception() is not None
        )
        if future is None or self._loop is not loop or failed:  # a failed attempt is retried
            self._discard()
            self._loop = loop
            future = self._future = asyncio.ensure_future(
                make_async_pool(self._dsn_factory(), min_size=self._min, max_size=self._max)
            )
        # shield: one caller being cancelled must not cancel the pool others wait for
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Close the pool (awaited when it belongs to the running loop)."""
        future, loop = self._future, self._loop
        self._future = self._loop = None
        if future is None:
            return
        if loop is asyncio.get_running_loop():
            pool = await future
            await pool.close()
        else:
            self._close_elsewhere(future, loop)

    async def aclose_here(self) -> None:
        """Close the pool only if it belongs to the running loop (a loop about to stop:
        a worker's executor loop), leaving any other loop's pool alone."""
        if self._loop is not None and self._loop is asyncio.get_running_loop():
            await self.aclose()

    def close(self) -> None:
        """Close from sync code: runs the close on the pool's loop if it is idle."""
        future, loop = self._future, self._loop
        self._future = self._loop = None
        if future is not None:
            self._close_elsewhere(future, loop)

    def _discard(self) -> None:
        if self._future is not None:
            self._close_elsewhere(self._future, self._loop)
        self._future = self._loop = None

    @staticmethod
    def _close_elsewhere(
        future: asyncio.Future[Pool], loop: asyncio.AbstractEventLoop | None
    ) -> None:
        if not future.done() or future.cancelled() or future.exception() is not None:
            return
        pool = future.result()
        if loop is not None and not loop.is_closed() and not loop.is_running():
            if _in_running_loop():
                # Called from another running loop (a new Worker's, a second asyncio.run):
                # the old loop cannot run here. Its idle pool is dropped; its connections
                # close when they are collected.
                return
            loop.run_until_complete(pool.close())
        elif loop is not None and loop.is_running():
            # Closing from inside another task of that loop: hand it to the loop.
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(pool.close()))
        # A closed loop took its sockets with it; nothing left to release.


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
