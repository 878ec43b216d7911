"""Wake-ups for pgqueue's own single enqueues: a per-queue rate limit on NOTIFY.

Postgres serialises the commits of transactions that NOTIFY: each holds one
cluster-wide lock from the start of its commit to its end, WAL flush included, and every
NOTIFY wakes every listening worker. With one NOTIFY per enqueue, a fast producer pays
for both. So an enqueue on pgqueue's own pool (autocommit, no ``conn=``) of a job that is
due now:

- sends its wake-up in its own transaction (the trigger, as every insert does) while its
  queue's wake-ups from this process stay within the rate limit: a token bucket that
  holds ``burst`` tokens and gains one every ``window`` seconds;
- otherwise (the bucket is empty: more than one wake-up per ``window`` on average, past a
  burst) inserts quietly (migration 0006: ``pgqueue.wake = off`` for that one statement)
  and, once it has committed, owes its queue a wake-up: a background thread sends one
  ``NOTIFY`` per owed queue as soon as the bucket has a token again (at most ``window``
  later), in one short transaction of its own.

So a steady stream below one job per ``window`` (and bursts of up to ``burst`` jobs)
never waits: every job wakes the workers in its own commit. Only a denser stream is
coalesced, to one NOTIFY per queue and ``window``, and its quiet jobs wait at most
``window`` (plus one round trip) for theirs. With the defaults (4 ms, 8) that is up to
250 wake-ups per second per queue and process, and a delay of at most 4 ms beyond them.
A job scheduled for later (a delay, a ``run_at``) takes the same token: its wake-up
(``"<queue> <epoch>"``, migration 0010) tells workers when to claim it. Quiet ones owe
their queue the earliest such moment, sent the same way.
A process that dies with a wake-up owed leaves those jobs to the workers' poll.
Enqueues inside the caller's transaction (``conn=``), bulk enqueues and SQL inserts are
never quiet: their commit is not pgqueue's to see.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg

from . import _db
from ._settings import NOTIFY_CHANNEL

log = logging.getLogger("pgqueue")

SEND_SQL = "SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q"
JOIN_TIMEOUT_S = 5.0
RETRY_S = 1.0
"""After a failed send, the owed queues are tried again this much later."""


class Wakeups:
    """One process's wake-up rate limiter for one database (one per :class:`~pgqueue.App`).

    ``quiet(queue)`` says whether an enqueue may skip its NOTIFY; after such an enqueue
    committed, ``owe(queue)`` schedules the trailing NOTIFY. ``flush()`` sends every owed
    wake-up now (``App.close`` and interpreter exit call it). Thread-safe; fork-safe (a
    child starts with nothing owed and its own sender).
    """

    def __init__(self, dsn_factory: Callable[[], str], window_s: float, burst: int = 1) -> None:
        self.window_s = window_s
        self.burst = burst
        self._dsn_factory = dsn_factory
        self._cond = threading.Condition(threading.Lock())
        self._tokens: dict[str, tuple[float, float]] = {}
        """queue -> (tokens, monotonic time they were counted); a queue not here is full."""
        self._owed: set[str] = set()
        """Queues owed a wake-up for jobs due now."""
        self._owed_at: dict[str, float] = {}
        """Queues owed a wake-up for scheduled jobs: the earliest run_at (epoch seconds)."""
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._stopping = False
        self._pid = os.getpid()
        self._exit_hook = False
        self.sent = 0
        """Trailing wake-ups sent by this process (one per payload)."""
        _LIVE.add(self)

    def _available(self, queue: str, now: float) -> float:
        """Tokens of ``queue`` at ``now`` (called with the lock held)."""
        tokens, at = self._tokens.get(queue, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) / self.window_s)

    def _take(self, queue: str, now: float) -> None:
        self._tokens[queue] = (self._available(queue, now) - 1.0, now)

    def quiet(self, queue: str) -> bool:
        """True: ``queue``'s wake-ups are over the rate limit, the caller may insert
        quietly and must call :meth:`owe` once committed. False: the caller's insert
        sends the wake-up itself (and takes a token)."""
        if self.window_s <= 0:
            return False
        now = time.monotonic()
        with self._cond:
            if self._available(queue, now) >= 1.0:
                self._take(queue, now)
                return False
            return True

    def owe(self, queue: str, run_at: float | None = None) -> None:
        """A quiet insert into ``queue`` committed: wake its workers within the window.
        ``run_at``: the job is scheduled for that moment (epoch seconds, database clock)."""
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="pgqueue-wakeups", daemon=True)
                self._thread.start()
                if not self._exit_hook:
                    atexit.register(self.flush)
                    self._exit_hook = True
            elif run_at is None and queue in self._owed:
                return  # the sender already waits for this queue's turn
            elif run_at is not None and self._owed_at.get(queue, math.inf) <= run_at:
                return  # an earlier moment is owed: workers look further from there
            if run_at is None:
                self._owed.add(queue)
            else:
                self._owed_at[queue] = run_at
            self._cond.notify()

    def flush(self) -> None:
        """Send every owed wake-up now and stop the sender (it restarts on the next
        :meth:`owe`); closes the sender's connection."""
        with self._cond:
            if self._pid != os.getpid():
                return  # inherited through fork before the hook ran: the parent's to send
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT_S)
        with self._cond:
            owed = self._take_owed(set(self._owed) | set(self._owed_at))
            self._thread = None
        if owed:
            self._send(owed)
        self._close()

    def _take_owed(self, queues: set[str]) -> list[str]:
        """The payloads owed to ``queues``, no longer owed (called with the lock held)."""
        payloads: list[str] = []
        for q in sorted(queues):
            if q in self._owed:
                self._owed.discard(q)
                payloads.append(q)
            at = self._owed_at.pop(q, None)
            if at is not None:
                payloads.append(f"{q} {at!r}")
        return payloads

    def _owe_again(self, payloads: list[str]) -> None:
        """Payloads whose send failed are owed again (called with the lock held)."""
        for p in payloads:
            q, _, at = p.partition(" ")
            if not at:
                self._owed.add(q)
            else:
                self._owed_at[q] = min(float(at), self._owed_at.get(q, math.inf))

    # --- the sender thread ------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._owed or self._owed_at) and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return  # flush() sends what is left
                now = time.monotonic()
                owed = self._owed | self._owed_at.keys()
                ready = {q for q in owed if self._available(q, now) >= 1.0}
                if not ready:
                    short = min(1.0 - self._available(q, now) for q in owed)
                    self._cond.wait(short * self.window_s)
                    continue
                payloads = self._take_owed(ready)
                for q in ready:
                    self._take(q, now)
            if not self._send(payloads):
                with self._cond:
                    self._owe_again(payloads)
                    for q in ready:  # try again RETRY_S from now
                        self._tokens[q] = (1.0 - RETRY_S / self.window_s, time.monotonic())

    def _send(self, payloads: list[str]) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = _db.connect(self._dsn_factory(), application_name="pgqueue-wakeups")
            self._conn.execute(SEND_SQL, (NOTIFY_CHANNEL, payloads))
        except Exception as exc:  # the sender must outlive any failure; the poll is the net
            log.warning("could not send wake-up(s) %s (%s); workers will poll", payloads, exc)
            self._close()
            return False
        self.sent += len(payloads)
        return True

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _after_fork_in_child(self) -> None:
        """The parent's thread does not exist here and its debts are the parent's to
        send; the connection's socket is the parent's too, so it is kept, never closed
        (closing would end the parent's session), and a new one is made on demand."""
        self._cond = threading.Condition(threading.Lock())
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = None
        self._thread = None
        self._owed.clear()
        self._owed_at.clear()
        self._tokens.clear()
        self._stopping = False
        self._pid = os.getpid()
        self.sent = 0


_LIVE: weakref.WeakSet[Wakeups] = weakref.WeakSet()
_INHERITED: list[Any] = []


def _reset_after_fork() -> None:
    for w in list(_LIVE):
        w._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)
