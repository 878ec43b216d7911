"""Inspecting and acting on jobs: list, details, cancel, retry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from .._settings import check_name
from .._sql import query
from ..errors import InvalidOption, JobNotFound
from ..job import JobState
from . import control

if TYPE_CHECKING:
    from ..app import App

RETRY_BATCH = 5000
RETRYABLE = (JobState.DEAD, JobState.CANCELLED)


def _state(value: str | JobState | None) -> str | None:
    if value is None:
        return None
    try:
        return JobState(value).value
    except ValueError:
        raise InvalidOption(
            f"state {value!r} is not a job state; use one of {', '.join(s.value for s in JobState)}"
        ) from None


def list_jobs(
    app: App,
    *,
    state: str | JobState | None = None,
    queue: str | None = None,
    task: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Jobs matching every given filter, newest first, at most ``limit`` (default 50).

    Each row has id, queue, task, state, attempt, max_attempts, priority, run_at,
    created_at, started_at, finished_at and last_error (first 200 characters).
    Raises InvalidOption for an unknown state or a limit below 1.
    """
    if limit < 1:
        raise InvalidOption(f"limit must be >= 1, got {limit}")
    params = {"state": _state(state), "queue": queue, "task": task, "limit": limit}
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query("admin_jobs_list"), params).fetchall()
        return rows


def job_details(app: App, job_id: int) -> dict[str, Any]:
    """Every column of the job (args, result, ``errors`` with each traceback).

    Raises JobNotFound when no job has this id (never created, or pruned).
    """
    with app.pool.connection() as conn:
        row = conn.execute(query("admin_job_show"), {"id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(f"job {job_id} does not exist (never created, or pruned)")
    details: dict[str, Any] = row[0]
    return details


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


def cancel_jobs(app: App, ids: Sequence[int]) -> CancelOutcome:
    """Cancel jobs: not yet running ones end ``cancelled`` now; running ones are asked to stop.

    Running jobs get ``cancel_requested_at`` and a ``cancel`` message on the control
    channel (see :mod:`pgqueue._admin.control`); all in one transaction, so a job a worker
    claims at this very moment is either cancelled before it starts or asked to stop.
    """
    wanted = sorted(set(ids))
    with app.pool.connection() as conn, conn.transaction():
        params = {"ids": wanted}
        cancelled = [r[0] for r in conn.execute(query("admin_cancel_pending"), params)]
        requested = [
            r[0]
            for r in conn.execute(
                query("admin_cancel_running"), {**params, "channel": control.CONTROL_CHANNEL}
            )
        ]
        states = dict(conn.execute(query("admin_states"), params).fetchall())
    done = set(cancelled) | set(requested)
    return CancelOutcome(
        cancelled=sorted(cancelled),
        requested=sorted(requested),
        unchanged={i: s for i, s in sorted(states.items()) if i not in done},
        missing=[i for i in wanted if i not in states],
    )


def retry_jobs(
    app: App,
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
        while True:
            with conn.transaction():
                rows = conn.execute(query("admin_retry"), params).fetchall()
                control.wake(conn, [r[1] for r in rows])
            requeued.extend(r[0] for r in rows)
            if len(rows) < batch_size:
                return sorted(requeued)
