"""What a worker reports while it runs: counters and an optional event hook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

log = logging.getLogger("pgqueue.worker")


ROW_COUNTS = ("handed_back", "unknown_handed_back", "rescued")
"""The totals a worker keeps in its ``pgqueue.workers`` row (``meta.counts``) at every
heartbeat, for ``pgqueue stats``: what the jobs table does not record."""


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
    """Running jobs handed back unfinished at shutdown (attempt refunded)."""
    unknown_handed_back: int = 0
    """Claimed jobs of tasks this worker's app does not register, handed back untouched."""
    cancelled: int = 0
    fenced_out: int = 0
    rescued: int = 0
    """Jobs of dead workers (expired leases) this process's rescuer gave back."""
    running: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def row_counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ROW_COUNTS}


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
