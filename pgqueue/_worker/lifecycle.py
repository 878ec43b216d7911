"""Signals: the first SIGTERM/SIGINT asks for a graceful stop, a second one exits at once;
and the watch on a supervisor: a child worker stops when its supervisor is gone."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

from .service import Service

log = logging.getLogger("pgqueue.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
PARENT_CHECK_S: Final = 1.0
"""How often a supervised worker checks that its supervisor still runs."""


@contextmanager
def stop_signals(on_first: Callable[[int], None]) -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT call ``on_first(signum)`` once; a second signal
    exits the process at once with 128 + signum (its running jobs are then rescued by
    the lease path). Outside the main thread this does nothing (Python only delivers
    signals there). The previous handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            log.info("%s received: no new jobs; running jobs may finish (send again to stop at once)", name)
            on_first(signum)
            return
        log.warning("second signal (%s): stopping at once; running jobs will be rescued", name)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(128 + signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class ParentWatch(Service):
    """Calls ``on_gone()`` once the process whose pid is ``parent_pid`` is no longer this
    process's parent (the supervisor died: its children must not run on unsupervised)."""

    name = "parent"

    def __init__(self, parent_pid: int, on_gone: Callable[[], None]) -> None:
        super().__init__()
        self.parent_pid = parent_pid
        self._on_gone = on_gone

    def run_once(self) -> float | None:
        if os.getppid() != self.parent_pid:
            log.warning("supervisor %s is gone: stopping", self.parent_pid)
            self._on_gone()
            return None
        return PARENT_CHECK_S
