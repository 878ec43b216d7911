"""The one base of the worker's background services (producer, notifier, executor,
completer, heartbeat, maintenance).

A service owns its state and its thread. ``start()`` and ``stop()`` are idempotent;
``run_once()`` does one round of its work on the calling thread (tests drive a service
with it, no thread needed) and says when the next round is due. ``runs`` and
:meth:`wait_runs` are the test signals: how many rounds completed, without reading a
service's private state or sleeping.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

log = logging.getLogger("pgqueue.worker")

ERROR_BACKOFF_S = 5.0
"""A round that raised is logged and the next one runs this many seconds later."""
JOIN_TIMEOUT_S = 10.0
"""How long ``stop()`` waits for the thread (they are daemon threads: a stuck one dies
with the process)."""


class Service:
    """A thread running :meth:`run_once` until stopped.

    ``run_once()`` returns the seconds until the next round (None: until :meth:`kick`).
    Subclasses with their own loop (a blocking queue, a LISTEN connection) override
    :meth:`run` and :meth:`_interrupt` instead.
    """

    name: ClassVar[str] = "service"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._kicked = threading.Event()
        self._thread: threading.Thread | None = None
        self._runs = threading.Condition()
        self.runs = 0
        """Completed rounds (a test signal; see :meth:`wait_runs`)."""
        self.error_backoff = ERROR_BACKOFF_S
        """Seconds before the next round after one that raised."""

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._main, name=f"pgqueue-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Ask the thread to end and wait up to ``timeout`` for it (idempotent)."""
        self._stopping.set()
        self._interrupt()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopping.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def kick(self) -> None:
        """Run the next round now."""
        self._kicked.set()

    # --- work -----------------------------------------------------------------------------
    def run_once(self) -> float | None:
        """One round of work; returns seconds until the next one (None: until kicked)."""
        raise NotImplementedError

    def run(self) -> None:
        """The loop (on the calling thread): rounds until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                wait = self.run_once()
            except Exception as exc:
                log.warning("%s failed: %s", self.name, exc)
                wait = self.error_backoff
            self._ran()
            if self._stopping.is_set():
                break
            self._kicked.wait(wait)
            self._kicked.clear()

    def _interrupt(self) -> None:
        """Wake the loop so it sees the stop request."""
        self._kicked.set()

    def _main(self) -> None:
        try:
            self.run()
        except BaseException:
            log.exception("service %s ended by an error", self.name)
            raise

    # --- test signals -----------------------------------------------------------------------
    def _ran(self) -> None:
        with self._runs:
            self.runs += 1
            self._runs.notify_all()

    def wait_runs(self, count: int, timeout: float) -> bool:
        """Block until ``count`` rounds have completed in all, or ``timeout``; True if so."""
        with self._runs:
            return self._runs.wait_for(lambda: self.runs >= count, timeout)
