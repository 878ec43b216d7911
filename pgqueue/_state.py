"""Job states, the one table of allowed transitions, and the row snapshot ``JobRow``.

Plain data every layer reads (the claim, the admin commands, the handle in
:mod:`pgqueue.job`, which re-exports these names); docs/concepts.md draws the diagram.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg.rows import kwargs_row


class JobState(enum.StrEnum):
    WAITING = "waiting"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED})

# The one state diagram: every transition the code may make (docs/concepts.md draws it).
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.WAITING: frozenset({JobState.QUEUED, JobState.CANCELLED}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.QUEUED, JobState.DEAD, JobState.CANCELLED}
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.DEAD: frozenset({JobState.QUEUED}),  # operator requeue
    # operator requeue; waiting: a workflow step re-armed when the failed dependency that
    # cancelled it is retried (the trigger pgqueue.rearm_dependents)
    JobState.CANCELLED: frozenset({JobState.QUEUED, JobState.WAITING}),
}


@dataclass(frozen=True, slots=True)
class JobRow:
    """A snapshot of one job row."""

    id: int
    queue: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int
    state: JobState
    attempt: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: Any
    last_error: str | None
    errors: list[Any]
    unique_key: str | None
    tags: list[str]
    progress: dict[str, Any] | None = None
    """The last ``ctx.progress(...)`` report: current, total, message, at (not in claim rows)."""
    expires_at: datetime | None = None
    """When a job not yet started is dropped (``expires=``; not in claim rows)."""


def _job_row(*, state: str, **columns: Any) -> JobRow:
    return JobRow(state=JobState(state), **columns)


job_row: Final = kwargs_row(_job_row)
"""Row factory for job_get.sql (``conn.cursor(row_factory=job_row)``): its columns, named
as JobRow's fields, as a JobRow."""


@dataclass(frozen=True, slots=True)
class MovedRow:
    """A running job a statement moved on: rescue.sql (its lease expired) and
    handon_worker.sql (its worker process exited) return these."""

    id: int
    queue: str
    task: str
    state: str
    """Where it went: queued, dead or cancelled."""
    attempt: int
    woken: int
    """Queues woken by the statement (read only to make its NOTIFY step run)."""
