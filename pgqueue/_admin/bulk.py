"""Bulk actions by filter: cancel, retry or delete every job a :class:`JobFilter` matches.

Each action walks the matching ids in primary-key order, one batch (default 1000) per
short transaction, so no lock is held across batches and workers keep claiming in
between. Jobs that change state while the walk goes on are judged by their state when
their batch runs: a job that finished meanwhile is not cancelled, one claimed meanwhile
is not deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from psycopg.rows import class_row

from .._sql import query
from .._state import JobState
from ..errors import InvalidOption
from . import control
from .jobs import SCHEDULED, JobFilter, cancel_jobs, retry_jobs

if TYPE_CHECKING:
    from psycopg import Connection

    from .._types import AppLike

BULK_BATCH: Final = 1000

# The states each action can act on; a --state outside them is refused up front.
ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "cancel": ("queued", "waiting", "running"),
    "retry": ("dead", "cancelled"),
    "delete": ("queued", "succeeded", "dead", "cancelled"),
}

Progress = Callable[[int], None]
"""Called after each batch with the number of jobs that batch looked at."""


@dataclass(frozen=True, slots=True)
class BulkResult:
    """``done``: jobs the action changed (for cancel: ended now); ``requested``: running
    jobs asked to stop (cancel only); ``skipped``: matched but left alone (their state
    changed meanwhile, a live job holds their unique key, something waits on them)."""

    action: str
    done: int
    requested: int
    skipped: int

    def as_dict(self) -> dict[str, object]:
        return {"action": self.action, "done": self.done, "requested": self.requested,
                "skipped": self.skipped}  # fmt: skip


def states_for(action: str, where: JobFilter) -> list[str]:
    """The stored states ``action`` looks at under ``where``; raises InvalidOption when
    the filter's state is not one the action can change."""
    allowed = ACTIONS[action]
    if where.state is None:
        return list(allowed)
    wanted = JobState.QUEUED.value if where.state == SCHEDULED else where.state
    if wanted not in allowed:
        raise InvalidOption(
            f"jobs in state {where.state!r} cannot be {_past(action)}; "
            f"{action} acts on {', '.join(allowed)}"
        )
    return [wanted]


def _past(action: str) -> str:
    return {"cancel": "cancelled", "retry": "retried", "delete": "deleted"}[action]


def run_bulk(
    app: AppLike,
    action: str,
    where: JobFilter,
    *,
    batch_size: int = BULK_BATCH,
    progress: Progress | None = None,
    only: Sequence[str] | None = None,
) -> BulkResult:
    """Apply ``action`` (cancel, retry or delete) to every job matching ``where``.

    Cancel ends queued and waiting jobs at once and asks running ones to stop (as
    :func:`cancel_jobs`); retry requeues dead and cancelled jobs (as :func:`retry_jobs`);
    delete removes queued and finished jobs, never running or waiting ones nor a queued
    job another job depends on. ``only`` narrows the states further (``queues purge``
    leaves running jobs alone). Raises InvalidOption for an unknown action, a batch size
    below 1 or a state the action cannot change.
    """
    if action not in ACTIONS:
        raise InvalidOption(f"unknown bulk action {action!r}; use one of {', '.join(ACTIONS)}")
    if batch_size < 1:
        raise InvalidOption(f"batch_size must be >= 1, got {batch_size}")
    states = states_for(action, where)
    if only is not None:
        states = [s for s in states if s in only]
    params = {**where.params(), "states": states, "limit": batch_size, "after": 0}
    done = requested = skipped = 0
    while True:
        with app.pool.connection() as conn:
            ids = [r[0] for r in conn.execute(query("admin_jobs_ids"), params)]
        if not ids:
            break
        params["after"] = ids[-1]
        if action == "cancel":
            outcome = cancel_jobs(app, ids)
            done += len(outcome.cancelled)
            requested += len(outcome.requested)
            skipped += len(ids) - len(outcome.cancelled) - len(outcome.requested)
        elif action == "retry":
            n = len(retry_jobs(app, ids, states=states))
            done += n
            skipped += len(ids) - n
        else:
            with app.pool.connection() as conn:
                n = len(delete_batch(conn, ids))
            done += n
            skipped += len(ids) - n
        if progress is not None:
            progress(len(ids))
        if len(ids) < batch_size:
            break
    return BulkResult(action=action, done=done, requested=requested, skipped=skipped)


@dataclass(frozen=True, slots=True)
class DeleteRow:
    """A row of admin_delete.sql: a job deleted."""

    id: int
    queue: str


def delete_batch(conn: Connection[Any], ids: Sequence[int]) -> list[int]:
    """Delete the deletable ones of ``ids`` in one transaction; return their ids, sorted."""
    with conn.transaction():
        cur = conn.cursor(row_factory=class_row(DeleteRow))
        rows = cur.execute(query("admin_delete"), {"ids": list(ids)}).fetchall()
        # A deleted queued job may free a serial key's turn: wake its queue.
        control.wake(conn, [r.queue for r in rows])
    return sorted(r.id for r in rows)
