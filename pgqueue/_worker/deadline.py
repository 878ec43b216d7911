"""Client-side deadlines: a half-open connection cannot hang a worker for ever.

A connection whose peer vanished without a FIN or RST (a dropped NAT or firewall entry, a
partition that never heals, a proxy that stopped forwarding) leaves a query waiting for an
answer that never comes. TCP keepalives do not catch it when something in between still
answers at the TCP level, and a server-side ``statement_timeout`` never reaches the server.
So the worker bounds every block it runs on a pooled connection: when a block runs past its
deadline, a watchdog thread shuts the connection's socket down. The waiting call then fails
at once with ``psycopg.OperationalError``, the pool discards the broken connection, and the
caller's usual retry (claim back-off, completer retry, next heartbeat) takes a fresh one.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("pgqueue.worker")

POOL_BLOCK_DEADLINE_S = 30.0
"""How long one block on a pooled worker connection (a claim, a batch of completions, a
heartbeat, a rescue or retention pass) may take before its connection is cut. Far above
what any of them takes on a healthy server; a blocked lock wait also ends here."""


class _Guard:
    __slots__ = ("at", "done", "fd", "seconds")

    def __init__(self, at: float, fd: int, seconds: float) -> None:
        self.at = at
        self.fd = fd
        self.seconds = seconds
        self.done = False


class Watchdog:
    """One thread and a heap of deadlines; :meth:`guard` costs two lock round trips."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Guard]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.fired = 0

    @contextmanager
    def guard(self, conn: Any, seconds: float) -> Iterator[None]:
        """Within the block, ``conn``'s socket is shut down once ``seconds`` pass."""
        try:
            fd = int(conn.fileno())
        except Exception:  # already closed: nothing to guard, the block will fail by itself
            yield
            return
        g = _Guard(time.monotonic() + seconds, fd, seconds)
        with self._cond:
            first = not self._heap or g.at < self._heap[0][0]
            heapq.heappush(self._heap, (g.at, next(self._seq), g))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pgqueue-deadline", daemon=True)
                self._thread.start()
            elif first:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                g.done = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    if self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)  # finished in time: drop it early
                        continue
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, g = heapq.heappop(self._heap)
                if g.done:
                    continue
                # Shut down while holding the lock: the block cannot finish (and hand the
                # connection, hence its descriptor, to someone else) in between.
                g.done = True
                self.fired += 1
                _shutdown(g.fd)
            log.warning(
                "no answer from the database within %ss: dropped the connection (half-open "
                "network or a hung server); the operation is retried on a new one",
                g.seconds,
            )


def _shutdown(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()  # closes the duplicate only; the connection notices the shutdown


WATCHDOG = Watchdog()


class GuardedPool:
    """A connection pool whose ``connection()`` blocks are bounded by ``deadline`` seconds
    (read at each use, default :data:`POOL_BLOCK_DEADLINE_S`); everything else is the
    wrapped pool's."""

    def __init__(self, pool: Any, deadline: float | None = None) -> None:
        self._pool = pool
        self._deadline = deadline

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        with self._pool.connection(timeout=timeout) as conn:
            seconds = self._deadline if self._deadline is not None else POOL_BLOCK_DEADLINE_S
            with WATCHDOG.guard(conn, seconds):
                yield conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
