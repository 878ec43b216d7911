"""What the worker tells the world about its jobs: log lines, stats, events and hooks.

Every line, counter and hook of a written outcome comes from the outcome table
(:data:`.outcome.OUTCOMES`); nothing here decides what a kind means. The daemon logs one
line per state change, not per poll.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from ..job import JobRow
from .events import EventHook, WorkerEvent, WorkerStats, emit
from .execution import Execution
from .messages import Written
from .outcome import Kind, Outcome
from .wakeup import Wake

if TYPE_CHECKING:
    from .._hooks import Hooks
    from .._maintenance.rescuer import RescuedJob

log = logging.getLogger("pgqueue.worker")

_NO_WORKER = uuid.UUID(int=0)

DUE_SLACK_S = 0.01
"""A retry or snooze is claimed this long after its delay (its run_at has passed by then)."""


class Sink(Protocol):
    def put(self, outcome: Outcome) -> None: ...


class Holder(Protocol):
    def forget(self, batch: list[Outcome]) -> list[Execution | None]: ...


class Reporter:
    """Routes settled outcomes to the completer and reports written ones.

    ``bind(completer, executor)`` once both exist (they report to this object).
    """

    def __init__(self, hooks: Hooks, on_event: EventHook | None, stats: WorkerStats, wake: Wake) -> None:
        self.hooks = hooks
        self.on_event = on_event
        self.stats = stats
        self._wake = wake
        self._completer: Sink | None = None
        self._executor: Holder | None = None

    def bind(self, completer: Sink, executor: Holder) -> None:
        self._completer = completer
        self._executor = executor

    def claimed(self, jobs: list[Execution]) -> None:
        self.stats.claimed += len(jobs)
        debug = log.isEnabledFor(logging.DEBUG)
        for ex in jobs:
            row = ex.row
            if debug:
                log.debug("job %s running", row.id, extra=ex.extra())
            if self.on_event is not None:
                emit(self.on_event, WorkerEvent("claimed", row.id, row.task, row.queue, row.attempt))
            if self.hooks.active:
                self.hooks.started(ex)

    def settled(self, ex: Execution, outcome: Outcome) -> None:
        """An attempt's outcome is decided (any thread): on to the completer."""
        assert self._completer is not None
        if self.hooks.active:
            self.hooks.settled(ex, outcome)
        self._completer.put(outcome)

    def written(self, message: Written) -> None:
        """The completer wrote a batch (its thread)."""
        assert self._executor is not None
        # The retry timer first: a producer that sees nothing held and nothing scheduled
        # in between would stop (stop_when_idle) before the retry.
        delays = [
            o.delay
            for o in message.batch
            if o.kind in (Kind.RETRY, Kind.SNOOZE) and o.delay and o.job_id in message.applied
        ]
        if delays:
            self._wake.due_in(min(delays) + DUE_SLACK_S)
        owners = self._executor.forget(message.batch)
        for o, ex in zip(message.batch, owners, strict=True):
            row = ex.row if ex is not None else None
            task = row.task if row else "?"
            queue = row.queue if row else "?"
            extra = {"job_id": o.job_id, "task": task, "queue": queue, "attempt": o.attempt}
            if o.job_id not in message.applied:
                self._fenced_out(o, task, queue, extra)
                continue
            info = o.kind.info
            setattr(self.stats, info.stat, getattr(self.stats, info.stat) + 1)
            if log.isEnabledFor(info.level):
                detail = o.last_error if info.detail else None
                if o.kind is Kind.RETRY and o.delay is not None:
                    tail = f" (in {o.delay:.2f}s): {detail}"
                else:
                    tail = f": {detail}" if detail else ""
                log.log(info.level, "job %s %s%s", o.job_id, o.kind.value, tail, extra=extra)
            if self.on_event is not None:
                event = WorkerEvent(o.kind.value, o.job_id, task, queue, o.attempt, o.last_error)
                emit(self.on_event, event)
            if ex is not None and self.hooks.active:
                self.hooks.written(ex, o)
        self._wake.written()

    def _fenced_out(self, o: Outcome, task: str, queue: str, extra: dict[str, object]) -> None:
        self.stats.fenced_out += 1
        log.warning(
            "job %s: outcome %s of attempt %s fenced out (this worker no longer holds the job)",
            o.job_id,
            o.kind.value,
            o.attempt,
            extra=extra,
        )
        if self.on_event is not None:
            emit(self.on_event, WorkerEvent("fenced_out", o.job_id, task, queue, o.attempt, o.kind.value))

    def unknown(self, rows: list[JobRow], delays: dict[int, float]) -> None:
        """Jobs of tasks this worker does not know were handed back untouched (their
        attempt refunded); ``delays``: seconds until each is claimable again (a row
        missing from it was not this worker's any more). Counted (``stats.unknown_handed_back``,
        the ``pgqueue_jobs_unknown_handed_back_total`` metric); event kind ``unknown_task``."""
        self.stats.unknown_handed_back += len(delays)
        if self.on_event is None:
            return
        for row in rows:
            if row.id in delays:
                detail = f"handed back, claimable again in {delays[row.id]:.1f}s"
                event = WorkerEvent("unknown_task", row.id, row.task, row.queue, row.attempt - 1, detail)
                emit(self.on_event, event)

    def rescued(self, jobs: Iterable[RescuedJob]) -> None:
        """Jobs this process's rescuer gave back: counted (``stats.rescued``, the
        ``pgqueue_jobs_rescued_total`` metric), an ``on_event`` ``rescued`` event each,
        and the ``job_rescued`` hook for each whose row was read."""
        for job in jobs:
            self.stats.rescued += 1
            if job.row is not None and self.hooks.active:
                self.hooks.rescued(job.row, job.rescued_by or _NO_WORKER)
            if self.on_event is not None:
                event = WorkerEvent("rescued", job.id, job.task, job.queue, job.attempt, job.state)
                emit(self.on_event, event)
