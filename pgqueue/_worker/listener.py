"""The LISTEN connection: wakes the worker within milliseconds of an enqueue's commit.

One dedicated direct connection per process (never through a transaction pooler: use
``listen_dsn`` for that). It reconnects by itself, with back-off, after a dropped
connection, a ``pg_terminate_backend`` or a server restart; after each (re)connect it
reports a wake-up, since notifications sent while it was away are lost. Polling stays
on in the worker as the safety net.

While the worker is idle, the claim a notification calls for runs on this same connection,
on this thread (``on_claim``): its server process is the one that just delivered the
notification, hence awake, and no other thread has to be woken before the claim is sent.

A connection can also die silently (half-open: the peer or a middlebox vanished without
closing it). After ``PING_INTERVAL_S`` without a notification the listener sends a cheap
``SELECT 1`` that must answer within ``PING_TIMEOUT_S``; if it does not, the socket is shut
down (see deadline.py) and the listener reconnects like after any other loss.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from .. import _db
from .._admin.control import CONTROL_CHANNEL
from .._settings import NOTIFY_CHANNEL
from .._sql import query
from .deadline import WATCHDOG

log = logging.getLogger("pgqueue.worker")

RECONNECT_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
WAIT_SLICE_S = 1.0
"""How often an idle listener wakes to see whether its connection needs a ping (no query);
:meth:`Listener.stop` interrupts the wait at once."""
APPLICATION_NAME = "pgqueue-listener"
PING_INTERVAL_S = 10.0
"""Idle time after which the listener checks its connection (one query: 0.1 query/s)."""
PING_TIMEOUT_S = 5.0
"""How long the check may take before the connection counts as dead."""


class Listener:
    """A thread that LISTENs on ``channel`` and calls ``on_wake(payload)``.

    ``on_wake(None)`` follows every successful (re)connect. ``connected`` is set
    while the LISTEN is in place. With ``on_control``, the same connection also
    LISTENs on the operators' control channel (``pgqueue_control``: cancel, pause,
    resume, limits) and passes each of its payloads to ``on_control``.

    With ``on_claim``: when ``on_wake(payload)`` returns True for a notification, the
    listener calls ``on_claim(conn)`` with its own connection once the notifications
    received with it are all delivered (none is dropped), on this thread. ``on_claim``
    must not raise for a failed claim (it hands the wake-up on instead); a connection
    it leaves broken is replaced like after any other loss. ``configure(conn)`` is
    called on every new connection before its LISTEN.
    """

    def __init__(
        self,
        dsn: str,
        on_wake: Callable[[str | None], bool | None],
        channel: str = NOTIFY_CHANNEL,
        on_control: Callable[[str], None] | None = None,
        on_claim: Callable[[psycopg.Connection[Any]], None] | None = None,
        configure: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._on_wake = on_wake
        self._channel = channel
        self._on_control = on_control
        self._on_claim = on_claim
        self._configure = configure
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.reconnects = 0
        self._thread: threading.Thread | None = None
        self._interrupt = (-1, -1)
        """A pipe: :meth:`stop` writes to it to end the thread's wait for the socket."""

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._interrupt = os.pipe()
            self._thread = threading.Thread(target=self._run, name="pgqueue-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            os.write(self._interrupt[1], b"x")  # ends the thread's wait for the socket now
            self._thread.join(timeout=WAIT_SLICE_S + 2.0)
            if not self._thread.is_alive():
                for fd in self._interrupt:
                    os.close(fd)
            self._thread = None

    def _idle(self, conn: psycopg.Connection[Any]) -> None:
        """Wait until the server sends something, :meth:`stop` is called, or a slice ends."""
        select.select([conn.fileno(), self._interrupt[0]], [], [], WAIT_SLICE_S)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with _db.connect(self._dsn, application_name=APPLICATION_NAME) as conn:
                    if self._configure is not None:
                        self._configure(conn)
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    if self._on_control is not None:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CONTROL_CHANNEL)))
                    self.connected.set()
                    if failures or self.reconnects:
                        log.info("listener reconnected")
                    failures = 0
                    self.reconnects += 1
                    self._on_wake(None)
                    heard = time.monotonic()
                    while not self._stop.is_set():
                        claim = False
                        delivered = False
                        # timeout=0: what has arrived (psycopg's backlog holds those that came
                        # during a claim or a ping); stop_after=1: the first batch, all of it,
                        # so the connection is free for a claim.
                        for note in conn.notifies(timeout=0, stop_after=1):
                            heard = time.monotonic()
                            delivered = True
                            if note.channel == CONTROL_CHANNEL and self._on_control is not None:
                                self._on_control(note.payload)
                            elif self._on_wake(note.payload):
                                claim = self._on_claim is not None
                        if not delivered:
                            self._idle(conn)
                        if claim:
                            assert self._on_claim is not None
                            self._on_claim(conn)
                            heard = time.monotonic()
                        if time.monotonic() - heard >= PING_INTERVAL_S:
                            with WATCHDOG.guard(conn, PING_TIMEOUT_S):
                                conn.execute(query("listener_ping"))
                            heard = time.monotonic()
            except Exception as exc:  # a bug must not leave the worker deaf until it restarts
                self.connected.clear()
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                if isinstance(exc, psycopg.Error):
                    if not self._stop.is_set():
                        log.warning("listener connection lost (%s); reconnecting in %ss", exc, delay)
                else:
                    log.exception("listener failed; reconnecting in %ss", delay)
                self._stop.wait(delay)
            finally:
                self.connected.clear()
