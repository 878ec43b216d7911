"""Inspecting and acting on jobs: list, details, cancel, retry."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.rows import class_row, dict_row

from .._settings import check_name
from .._sql import query
from .._state import JobState
from ..errors import InvalidOption, JobNotFound
from . import control

if TYPE_CHECKING:
    from .._types import AppLike

log = logging.getLogger("pgqueue.admin")

RETRY_BATCH = 5000
RETRYABLE = (JobState.DEAD, JobState.CANCELLED)


SCHEDULED = "scheduled"
"""Not a stored state: a ``queued`` job whose ``run_at`` is in the future. Accepted
wherever states are filtered (``jobs ls --state scheduled``, bulk actions)."""


def _state(value: str | JobState | None) -> str | None:
    if value is None:
        return None
    try:
        return JobState(value).value
    except ValueError:
        raise InvalidOption(
            f"state {value!r} is not a job state; use one of "
            f"{', '.join(s.value for s in JobState)} or {SCHEDULED}"
        ) from None


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing or bulk action means; every field is optional (None = any).

    ``state`` is a job state or ``scheduled`` (queued, ``run_at`` in the future).
    ``tag``: jobs carrying this tag. ``older_than``: finished longer ago than this, or
    for unfinished jobs created longer ago. Raises InvalidOption / InvalidName for an
    unknown state, a negative age or a malformed queue name.
    """

    queue: str | None = None
    state: str | None = None
    task: str | None = None
    tag: str | None = None
    older_than: timedelta | None = None

    def __post_init__(self) -> None:
        if self.state is not None and self.state != SCHEDULED:
            object.__setattr__(self, "state", _state(self.state))
        if self.queue is not None:
            check_name(self.queue, "queue")
        if self.older_than is not None and self.older_than < timedelta(0):
            raise InvalidOption(f"older_than must be >= 0, got {self.older_than}")

    def params(self) -> dict[str, Any]:
        """The SQL parameters of the filter (admin_jobs_list/count/ids.sql)."""
        scheduled = self.state == SCHEDULED
        return {
            "state": JobState.QUEUED.value if scheduled else self.state,
            "scheduled": True if scheduled else None,
            "queue": self.queue,
            "task": self.task,
            "tag": self.tag,
            "before": None if self.older_than is None else datetime.now(UTC) - self.older_than,
        }


ALL_STATES = tuple(s.value for s in JobState)
COUNT_CAP = 100_000
"""Counts for truncation notices and confirmations stop here ("100,000+")."""


def list_jobs(
    app: AppLike,
    *,
    state: str | JobState | None = None,
    queue: str | None = None,
    task: str | None = None,
    tag: str | None = None,
    older_than: timedelta | None = None,
    limit: int | None = 50,
) -> list[dict[str, Any]]:
    """Jobs matching every given filter (see :class:`JobFilter`), newest first, at most
    ``limit`` (default 50; None: all).

    Each row has id, queue, task, state, attempt, max_attempts, priority, run_at,
    created_at, started_at, finished_at, tags and last_error (first 200 characters).
    Raises InvalidOption for an unknown state or a limit below 1.
    """
    if limit is not None and limit < 1:
        raise InvalidOption(f"limit must be >= 1, got {limit}")
    where = JobFilter(
        queue=queue,
        state=state.value if isinstance(state, JobState) else state,
        task=task,
        tag=tag,
        older_than=older_than,
    )
    params = {**where.params(), "limit": limit}
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query("admin_jobs_list"), params).fetchall()
        return rows


def count_jobs(
    app: AppLike, where: JobFilter, *, states: Sequence[str] = ALL_STATES, cap: int = COUNT_CAP
) -> int:
    """How many jobs match ``where`` and are in one of ``states``, counted up to ``cap``."""
    params = {**where.params(), "states": list(states), "cap": cap}
    with app.pool.connection() as conn:
        row = conn.execute(query("admin_jobs_count"), params).fetchone()
    return int(row[0]) if row else 0


def job_details(app: AppLike, job_id: int) -> dict[str, Any]:
    """Every column of the job (args, result, ``errors`` with each traceback).

    Raises JobNotFound when no job has this id (never created, or pruned).
    """
    with app.pool.connection() as conn:
        row = conn.execute(query("admin_job_show"), {"id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(f"job {job_id} does not exist (never created, or pruned)")
    details: dict[str, Any] = row[0]
    # to_jsonb renders timestamps as text with as many fraction digits as they need; as
    # datetimes they print like every other command's (ISO 8601, microseconds).
    for key in _TIMESTAMPS:
        if isinstance(details.get(key), str):
            details[key] = datetime.fromisoformat(details[key])
    return details


_TIMESTAMPS = ("run_at", "created_at", "started_at", "finished_at", "lease_expires_at", "cancel_requested_at")


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What :func:`cancel_jobs` did to each id.

    ``cancelled``: ended at once (they were queued or waiting). ``requested``: running;
    their worker was told and ends them ``cancelled``. ``unchanged``: already finished
    (id -> state). ``missing``: no such job.
    """

    cancelled: list[int] = field(default_factory=list)
    requested: list[int] = field(default_factory=list)
    unchanged: dict[int, str] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CancelRunningRow:
    """A row of admin_cancel_running.sql: a running job asked to stop."""

    id: int
    notified: bool
    """The column exists to send the cancel message (its pg_notify); the value says nothing."""


@dataclass(frozen=True, slots=True)
class StateRow:
    """A row of admin_states.sql."""

    id: int
    state: str


def cancel_jobs(app: AppLike, ids: Sequence[int], *, running: bool = True) -> CancelOutcome:
    """Cancel jobs: not yet running ones end ``cancelled`` now; running ones are asked to stop
    (unless ``running=False``: then they are left to finish).

    Running jobs get ``cancel_requested_at`` and a ``cancel`` message on the control
    channel (see :mod:`pgqueue._admin.control`); all in one transaction, so a job a worker
    claims at this very moment is either cancelled before it starts or asked to stop.
    """
    wanted = sorted(set(ids))
    with app.pool.connection() as conn, conn.transaction():
        params = {"ids": wanted}
        cancelled = [r[0] for r in conn.execute(query("admin_cancel_pending"), params)]
        requested = [
            r.id
            for r in conn.cursor(row_factory=class_row(CancelRunningRow)).execute(
                query("admin_cancel_running"), {**params, "channel": control.CONTROL_CHANNEL}
            )
        ] if running else []
        rows = conn.cursor(row_factory=class_row(StateRow)).execute(query("admin_states"), params)
        states = {r.id: r.state for r in rows}
    done = set(cancelled) | set(requested)
    return CancelOutcome(
        cancelled=sorted(cancelled),
        requested=sorted(requested),
        unchanged={i: s for i, s in sorted(states.items()) if i not in done},
        missing=[i for i in wanted if i not in states],
    )


@dataclass(frozen=True, slots=True)
class RetryRow:
    """A row of admin_retry.sql: a job requeued."""

    id: int
    queue: str


def retry_jobs(
    app: AppLike,
    ids: Sequence[int] | None = None,
    *,
    states: Sequence[str | JobState] = RETRYABLE,
    queue: str | None = None,
    task: str | None = None,
    batch_size: int = RETRY_BATCH,
) -> list[int]:
    """Requeue finished jobs to run now with a fresh attempt budget; return their ids.

    With ``ids`` only those jobs; without, every job in ``states`` (default dead and
    cancelled) matching ``queue``/``task``, in batches of ``batch_size`` (one
    transaction each). Jobs in other states are left alone, as is a job whose
    ``unique_key`` is held by a live job. The error history is kept. Idle workers of
    the affected queues are woken. Raises InvalidOption for a state that cannot be
    retried (only dead and cancelled can).
    """
    wanted_states = [_state(s) for s in states]
    for s in wanted_states:
        if s not in (JobState.DEAD.value, JobState.CANCELLED.value):
            raise InvalidOption(f"only dead or cancelled jobs can be retried, not {s!r}")
    if queue is not None:
        check_name(queue, "queue")
    params: dict[str, Any] = {
        "ids": sorted(set(ids)) if ids is not None else None,
        "states": wanted_states,
        "queue": queue,
        "task": task,
        "limit": batch_size,
    }
    requeued: list[int] = []
    with app.pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(RetryRow))
        while True:
            with conn.transaction():
                rows = cur.execute(query("admin_retry"), params).fetchall()
                control.wake(conn, [r.queue for r in rows])
                if rows:
                    _say_rearmed(conn, [r.id for r in rows])
            requeued.extend(r.id for r in rows)
            if len(rows) < batch_size:
                return sorted(requeued)


@dataclass(frozen=True, slots=True)
class RearmedRow:
    """A row of flow_rearmed.sql: a retried job and its dependents waiting for it again."""

    depends_on: int
    waiting: int


def _say_rearmed(conn: Any, ids: list[int]) -> None:
    """Log the workflow steps the retry re-armed (the trigger pgqueue.rearm_dependents,
    migration 0009, did it in the same transaction): direct dependents waiting again."""
    for r in conn.cursor(row_factory=class_row(RearmedRow)).execute(query("flow_rearmed"), {"ids": ids}):
        log.info(
            "job %s retried: %s dependent job(s) cancelled because it failed wait for it again",
            r.depends_on, r.waiting, extra={"job_id": r.depends_on},
        )
