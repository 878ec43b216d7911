"""Signals: the first SIGTERM/SIGINT asks for a graceful stop, a second one exits at once."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger("pgqueue.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
