"""Async pools made on first use, one per event loop that uses them.

asyncio pools belong to one event loop. Code that runs several loops (``asyncio.run``
twice, a Worker's executor loop in its own thread next to the application's loop, test
frameworks) gets one pool per loop, so two loops never trade a single pool back and forth.

Each pool is closed before its loop goes away, even when nobody closes it: a guard task on
the loop closes the pool when it is cancelled, which is what ``asyncio.run`` does to every
task left when its main coroutine returns. Without it, that cancellation can land while a
pool worker is opening a connection; psycopg_pool's worker swallows it and waits for its
next maintenance task forever, and ``asyncio.run`` never returns.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ._db import make_async_pool

Pool = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]


@dataclass
class _LoopPool:
    future: asyncio.Future[Pool]
    opener: asyncio.Task[None] | None = None
    """The task opening the pool (held so it is not collected while it runs)."""
    guard: asyncio.Task[None] | None = None
    """The task that closes the pool when its loop cancels what is left."""

    def failed(self) -> bool:
        f = self.future
        return f.done() and (f.cancelled() or f.exception() is not None)

    def ready(self) -> Pool | None:
        f = self.future
        return f.result() if f.done() and not self.failed() else None


class LazyAsyncPool:
    """``await get()`` returns the running loop's pool, creating it once per loop."""

    def __init__(self, dsn_factory: Callable[[], str], min_size: int, max_size: int) -> None:
        self._dsn_factory = dsn_factory
        self._min = min_size
        self._max = max_size
        self._lock = threading.Lock()  # loops in several threads share this object
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}

    async def get(self) -> Pool:
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [lp for lp in self._pools if lp.is_closed()]:
                del self._pools[old]  # a closed loop took its sockets with it
            entry = self._pools.get(loop)
            if entry is None or entry.failed():  # a failed attempt is retried
                entry = self._pools[loop] = _LoopPool(loop.create_future())
                entry.opener = loop.create_task(self._open(entry), name="pgqueue-pool-open")
        # shield: one caller being cancelled must not cancel the pool others wait for
        return await asyncio.shield(entry.future)

    async def _open(self, entry: _LoopPool) -> None:
        try:
            pool = await make_async_pool(self._dsn_factory(), min_size=self._min, max_size=self._max)
        except asyncio.CancelledError:
            entry.future.cancel()  # the loop is ending; a later get() on it tries again
            raise
        except Exception as exc:  # handed to every waiter
            entry.future.set_exception(exc)
            entry.future.exception()  # retrieved: a failure nobody awaited is not logged
            return
        entry.guard = asyncio.get_running_loop().create_task(
            _close_when_cancelled(pool), name="pgqueue-pool-guard"
        )
        entry.future.set_result(pool)

    async def aclose(self) -> None:
        """Close every pool: the running loop's awaited, the others' where possible."""
        with self._lock:
            entries, self._pools = self._pools, {}
        here = asyncio.get_running_loop()
        for loop, entry in entries.items():
            if loop is here:
                await _close_here(entry)
            else:
                _close_elsewhere(entry, loop)

    async def aclose_here(self) -> None:
        """Close only the running loop's pool (a loop about to stop: a worker's executor
        loop), leaving the other loops' pools alone."""
        with self._lock:
            entry = self._pools.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await _close_here(entry)

    def close(self) -> None:
        """Close from sync code: each pool on its own loop, where that loop can run it."""
        with self._lock:
            entries, self._pools = self._pools, {}
        for loop, entry in entries.items():
            _close_elsewhere(entry, loop)


async def _close_when_cancelled(pool: Pool) -> None:
    try:
        await asyncio.Event().wait()  # until the loop's owner cancels what is left
    except asyncio.CancelledError:
        await pool.close()
        raise


async def _close_here(entry: _LoopPool) -> None:
    try:
        pool = await entry.future
    except Exception:  # a pool that never opened has nothing to close
        return
    await pool.close()
    if entry.guard is not None:
        entry.guard.cancel()


def _close_elsewhere(entry: _LoopPool, loop: asyncio.AbstractEventLoop) -> None:
    pool = entry.ready()
    if pool is None or loop.is_closed():
        return  # never opened, or a closed loop took its sockets with it
    if loop.is_running():
        # Another thread's loop (a worker's executor): hand the close to it.
        loop.call_soon_threadsafe(lambda: loop.create_task(_close_here(entry)))
    elif not _in_running_loop():
        loop.run_until_complete(_close_here(entry))
    # else: called from inside another running loop, where the old loop cannot run; its
    # idle pool is dropped and its connections close when they are collected.


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
