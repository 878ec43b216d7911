"""Job handles (the states, their transition table and the row snapshot: pgqueue._state).

``Job`` is generic in its result: ``task.enqueue(...)`` returns ``Job[R]`` for a task
returning ``R``, and ``result()`` is typed ``R``. A bare ``Job`` (a handle made from an
id, ``app.job(id)``) is ``Job[Any]``. The stored value is the JSON round trip of what
the task returned (a tuple comes back as a list), which the type does not see.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Generic, cast

from psycopg.rows import class_row
from typing_extensions import TypeVar

from ._admin import cancel_jobs, job_details, retry_jobs
from ._sql import query
from ._state import TERMINAL, TRANSITIONS, JobRow, JobState, job_row
from ._types import AppLike
from .errors import JobFailed, JobNotFound

__all__ = ["TERMINAL", "TRANSITIONS", "Job", "JobRow", "JobState"]

R = TypeVar("R", default=Any)
"""The job's result type: its task's return type (the awaited one for ``async def``)."""

RESULT_POLL_MIN_S = 0.005
RESULT_POLL_MAX_S = 0.5


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """The row of job_outcome.sql: what :meth:`Job.result` waits for."""

    state: str
    result: Any
    last_error: str | None


class Job(Generic[R]):
    """A handle on one job. ``state`` and friends reflect the last :meth:`refresh`."""

    def __init__(self, app: AppLike, job_id: int, row: JobRow | None = None) -> None:
        self.app = app
        self.id = job_id
        self._row = row

    def __repr__(self) -> str:
        state = self._row.state.value if self._row else "?"
        return f"<Job {self.id} {state}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id and other.app is self.app

    def __hash__(self) -> int:
        return hash(self.id)

    def refresh(self) -> Job[R]:
        """Re-read the row; raises JobNotFound if it was pruned or never existed."""
        with self.app.pool.connection() as conn:
            row = conn.cursor(row_factory=job_row).execute(query("job_get"), {"id": self.id}).fetchone()
        if row is None:
            raise JobNotFound(f"job {self.id} does not exist (never created, or pruned)")
        self._row = row
        return self

    @property
    def row(self) -> JobRow:
        """The last snapshot (reads the row on first access)."""
        if self._row is None:
            self.refresh()
        assert self._row is not None
        return self._row

    @property
    def state(self) -> JobState:
        return self.row.state

    @property
    def progress(self) -> dict[str, Any] | None:
        """The last progress report (``{"current", "total", "message", "at"}``) or None."""
        return self.row.progress

    # --- results (written by the worker; waiting polls the row with back-off) ---------------
    def result(self, timeout: float | None = None) -> R:
        """Wait until the job finishes and return its stored result (JSON value, or None).

        Polls the row by primary key with back-off (5 ms, doubling to 0.5 s), so one
        waiter costs at most two cheap queries a second and jobs nobody waits for cost
        nothing. ``timeout`` in seconds (None: wait for ever). Raises JobFailed (with the
        last error) when the job ended dead or cancelled, TimeoutError when it has not
        finished in time, JobNotFound when it does not exist.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = RESULT_POLL_MIN_S
        while True:
            done, value = self._outcome()
            if done:
                return cast(R, value)  # the stored JSON of what the task returned
            pause = self._pause(delay, deadline, timeout)
            time.sleep(pause)
            delay = min(delay * 2, RESULT_POLL_MAX_S)

    async def result_async(self, timeout: float | None = None) -> R:
        """:meth:`result` for asyncio code: same behaviour and errors, never blocks the loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = RESULT_POLL_MIN_S
        while True:
            done, value = await self._outcome_async()
            if done:
                return cast(R, value)
            await asyncio.sleep(self._pause(delay, deadline, timeout))
            delay = min(delay * 2, RESULT_POLL_MAX_S)

    def _outcome(self) -> tuple[bool, Any]:
        with self.app.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(OutcomeRow))
            row = cur.execute(query("job_outcome"), {"id": self.id}).fetchone()
        return self._decide(row)

    async def _outcome_async(self) -> tuple[bool, Any]:
        pool = await self.app.async_pool()
        async with pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(OutcomeRow))
            await cur.execute(query("job_outcome"), {"id": self.id})
            row = await cur.fetchone()
        return self._decide(row)

    def _decide(self, row: OutcomeRow | None) -> tuple[bool, Any]:
        if row is None:
            raise JobNotFound(f"job {self.id} does not exist (never created, or pruned)")
        if row.state == JobState.SUCCEEDED:
            return True, row.result
        if row.state in (JobState.DEAD, JobState.CANCELLED):
            raise JobFailed(self.id, row.state, row.last_error)
        return False, None

    def _pause(self, delay: float, deadline: float | None, timeout: float | None) -> float:
        if deadline is None:
            return delay
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"job {self.id} did not finish within {timeout}s")
        return min(delay, left)

    # --- Celery's AsyncResult vocabulary (each reads the row once) -------------------------
    def get(self, timeout: float | None = None) -> R:
        """Celery's ``AsyncResult.get``: exactly :meth:`result` (same waiting and errors)."""
        return self.result(timeout=timeout)

    def ready(self) -> bool:
        """Whether the job has finished (succeeded, dead or cancelled); re-reads the row."""
        return self.refresh().state.terminal

    def successful(self) -> bool:
        """Whether the job succeeded; re-reads the row."""
        return self.refresh().state is JobState.SUCCEEDED

    def failed(self) -> bool:
        """Whether the job ended dead or cancelled (expired included); re-reads the row."""
        return self.refresh().state in (JobState.DEAD, JobState.CANCELLED)

    def revoke(self, terminate: bool = False) -> bool:
        """Celery's ``revoke``: cancel the job if it has not started; with ``terminate=True``
        a running one is asked to stop too (:meth:`cancel`). True if it was cancelled now
        (or asked to stop). Raises JobNotFound."""
        outcome = cancel_jobs(self.app, [self.id], running=terminate)
        if outcome.missing:
            raise JobNotFound(f"job {self.id} does not exist (never created, or pruned)")
        self._row = None
        return bool(outcome.cancelled or outcome.requested)

    # --- operator actions (pgqueue._admin does the work) ----------------------------------
    def cancel(self) -> bool:
        """Cancel this job; True if it was cancelled now or its worker was told to stop.

        A queued or waiting job ends ``cancelled`` at once; a running one is asked to
        stop through the workers' control channel and ends ``cancelled`` when its worker
        acts on it. A finished job is left alone (False). Raises JobNotFound.
        """
        outcome = cancel_jobs(self.app, [self.id])
        if outcome.missing:
            raise JobNotFound(f"job {self.id} does not exist (never created, or pruned)")
        self._row = None
        return bool(outcome.cancelled or outcome.requested)

    def retry(self) -> bool:
        """Requeue this dead or cancelled job with a fresh attempt budget, to run now.

        Workflow steps cancelled because this job failed wait for it again (and so on
        down the chain), so fixing and retrying a failed step resumes the workflow; the
        ``pgqueue`` logger says how many were re-armed. Returns False (and changes
        nothing) for a job in any other state, or whose unique_key a live job holds.
        Raises JobNotFound.
        """
        done = retry_jobs(self.app, [self.id])
        self._row = None
        if not done:
            self.refresh()  # raises JobNotFound for a missing job
        return bool(done)

    def details(self) -> dict[str, Any]:
        """Every column of the job as JSON-ready values (errors with tracebacks)."""
        return job_details(self.app, self.id)
