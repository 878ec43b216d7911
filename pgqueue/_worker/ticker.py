"""One thread that runs a process's periodic services (heartbeat, rescuer, ...)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("pgqueue.worker")


@dataclass
class _Job:
    name: str
    interval: float
    fn: Callable[[], None]
    due: float


class Ticker:
    """Calls each registered function every ``interval`` seconds, first call at once.

    A function that raises is logged and called again at its next tick. Services run
    one after another, so a slow one delays the others (they are all one statement).
    ``start``/``stop`` are idempotent.
    """

    def __init__(self) -> None:
        self._jobs: list[_Job] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, interval: float, fn: Callable[[], None], *, first_in: float = 0.0) -> None:
        self._jobs.append(_Job(name, interval, fn, time.monotonic() + first_in))

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pgqueue-ticker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self._jobs:
                if job.due <= now:
                    job.due = now + job.interval
                    try:
                        job.fn()
                    except Exception as exc:
                        log.warning("%s failed: %s", job.name, exc)
            if not self._jobs:
                self._stop.wait(1.0)
                continue
            self._stop.wait(max(0.0, min(j.due for j in self._jobs) - time.monotonic()))
