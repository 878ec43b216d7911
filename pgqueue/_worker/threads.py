"""The thread runner: sync attempts on ``concurrency`` threads fed by one queue."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from . import outcome as oc
from .execution import Execution


class ThreadRunner:
    """Runs each submitted sync attempt on one of its threads, then calls
    ``settle(ex, outcome)`` and ``release(ex)`` on that thread."""

    def __init__(
        self,
        threads: int,
        settle: Callable[[Execution, oc.Outcome | None], None],
        release: Callable[[Execution], None],
    ) -> None:
        self.size = threads
        self._settle = settle
        self._release = release
        self._q: queue.SimpleQueue[Execution | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        for i in range(self.size):
            t = threading.Thread(target=self._run, name=f"pgqueue-run-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """End idle threads; one still inside a task ends when it returns (a daemon
        thread: it dies with the process)."""
        for _ in self._threads:
            self._q.put(None)
        self._threads.clear()

    def submit(self, ex: Execution) -> None:
        self._q.put(ex)

    def _run(self) -> None:
        while True:
            ex = self._q.get()
            if ex is None:
                return
            outcome: oc.Outcome | None = None
            try:
                outcome = ex.success(ex.call())
            except BaseException as exc:  # a task's SystemExit fails its attempt, not the worker
                outcome = ex.failure(exc)
            finally:
                self._settle(ex, outcome)
                self._release(ex)
