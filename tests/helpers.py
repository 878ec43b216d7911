"""Small helpers shared by the tests (no sleeps as synchronisation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01, max_interval: float = 0.1
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds.

    The first poll waits ``interval``, each next one 1.5 times longer, up to ``max_interval``
    (at least ``interval``): a quick condition is seen at once, and a long wait costs ten
    polls a second, not fifty (a predicate that opens a connection costs ~3.5 ms of CPU,
    client and server, on the 2-core test machine).
    """
    deadline = time.monotonic() + timeout
    ceiling = max(interval, max_interval)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)
        interval = min(interval * 1.5, ceiling)
