"""What a worker reports while it runs: counters and an optional event hook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

log = logging.getLogger("pgqueue.worker")


@dataclass
class WorkerStats:
    """Running totals of one worker process (each counter has a single writer thread).

    ``running`` is the number of occupied execution slots right now.
    """

    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    snoozed: int = 0
    dead: int = 0
    handed_back: int = 0
    cancelled: int = 0
    fenced_out: int = 0
    rescued: int = 0
    running: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    """One state change of a job as this worker saw it.

    ``kind``: claimed, succeeded, retry, snooze, dead, handback, cancelled, fenced_out,
    rescued.
    """

    kind: str
    job_id: int
    task: str
    queue: str
    attempt: int
    detail: str | None = None


EventHook = Callable[[WorkerEvent], None]


def emit(hook: EventHook | None, event: WorkerEvent) -> None:
    """Call the user's hook; its exceptions are logged and never reach the worker loop."""
    if hook is None:
        return
    try:
        hook(event)
    except Exception:
        log.exception("worker event hook failed on %s", event.kind)
