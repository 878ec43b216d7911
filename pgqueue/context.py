"""The context a ``bind=True`` task receives as its first argument."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from . import _progress
from .errors import Discard, JobCancelled, Retry, Snooze
from .job import Job, JobRow

if TYPE_CHECKING:
    from ._types import AppLike


class Context:
    """What a running attempt knows about itself, and how it steers its own job.

    ``ctx.job`` is the job handle (its ``row`` is the snapshot taken at claim),
    ``ctx.attempt`` counts from 1. ``ctx.retry(...)``, ``ctx.snooze(...)`` and
    ``ctx.discard(...)`` raise the matching signal, so the rest of the task does
    not run. ``ctx.cancelled`` turns true when the worker wants the attempt to stop
    early (an operator cancelled the job, shutdown past its timeout, lost lease, task
    timeout): a sync task that checks it (or calls ``ctx.raise_if_cancelled()``) can
    stop early. A job an operator cancelled ends ``cancelled`` however the task
    then ends; otherwise it is handed back or retried as usual.
    """

    __slots__ = ("_cancel", "_progress_at", "_session", "app", "conn", "job", "session_factory", "worker_id")

    def __init__(
        self, app: AppLike, row: JobRow, worker_id: uuid.UUID, cancel: threading.Event | None = None
    ) -> None:
        self.app = app
        self.job = Job(app, row.id, row)
        self.worker_id = worker_id
        self._cancel = cancel or threading.Event()
        self._progress_at: float | None = None
        self.conn: Any = None
        """A ``transactional=True`` task's transaction, while it runs: a psycopg connection
        (``AsyncConnection`` for an ``async def`` task) whose writes commit together with
        the job's success, or roll back with a failure, a timeout or a lost lease. Enqueue
        follow-ups with ``configure(conn=ctx.conn)``. None for other tasks."""
        self.session_factory: Callable[[], Any] | None = None
        self._session: Any = None

    @property
    def session(self) -> Any:
        """A sync ``transactional=True`` task's SQLAlchemy ``Session`` on the same
        transaction as ``ctx.conn``, made on first use (its ``commit()`` releases a
        savepoint; the worker commits). None for other tasks and for ``async def`` ones."""
        if self._session is None and self.session_factory is not None:
            self._session = self.session_factory()
        return self._session

    def __repr__(self) -> str:
        return f"<Context job={self.job.id} attempt={self.attempt}>"

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1."""
        return self.job.row.attempt

    @property
    def max_attempts(self) -> int:
        return self.job.row.max_attempts

    @property
    def cancelled(self) -> bool:
        """True once the worker has asked this attempt to stop."""
        return self._cancel.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`pgqueue.JobCancelled` if the worker has asked this attempt to
        stop; call it between steps of long sync work (Python cannot interrupt a thread)."""
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, current: float, total: float | None = None, message: str | None = None) -> bool:
        """Report how far this attempt is; readable as ``job.refresh().progress``.

        Writes are throttled to one per PROGRESS_INTERVAL_S (the first and the final
        one, ``current >= total``, always go through), so a tight loop does not
        hammer the database; returns whether this call was written. The write is
        fenced like a completion: a worker that lost the job cannot change it.
        Raises InvalidOption for a non-numeric or negative ``current``/``total``.
        """
        at = _progress.report(self.app.pool, self.job.id, self.attempt, self.worker_id,
                              self._progress_at, current, total, message)
        if at is None:
            return False
        self._progress_at = at
        return True

    def retry(self, exc: BaseException | None = None, delay: float | None = None) -> NoReturn:
        """Fail this attempt now and retry after ``delay`` seconds (else the back-off).

        ``exc`` is recorded as the attempt's error. On the last attempt the job goes
        dead instead. Raises :class:`pgqueue.Retry` (``raise ctx.retry(...)`` reads
        well too).
        """
        raise Retry(delay, exc=exc)

    def snooze(self, delay: float) -> NoReturn:
        """Put the job back for ``delay`` seconds without using up an attempt."""
        raise Snooze(delay)

    def discard(self, reason: object = None) -> NoReturn:
        """Send the job to the dead letters now."""
        raise Discard(reason)
