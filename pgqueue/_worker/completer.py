"""Writes attempt outcomes in batches, each behind its (id, attempt, worker_id) fence.

Outcomes queue up while a write is in flight and go out together in the next one: one
statement per batch, however many jobs and outcome kinds it holds. A
fenced-out outcome (the worker lost the lease; the job was rescued or re-claimed) is
logged and counted, never raised. A failed write is retried with back-off: outcomes
are not dropped while the process lives; if it dies first, the leases expire and
the rescuer queues the jobs again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import scalar_row

from .._sql import query
from ..errors import ConfigurationError
from . import timing
from .messages import Written
from .outcome import OUTCOMES, Kind, Outcome
from .service import Service

log = logging.getLogger("pgqueue.worker")

MAX_BATCH: Final = 1000
"""Outcomes written by one statement at most."""
FLUSH_S: Final = 10.0
"""At shutdown, how long queued outcomes may take to be written before they are left to
the rescuer (their leases expire)."""
RETRY_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class CompleterConfig:
    """``max_batch``: outcomes per statement; ``flush_s``: shutdown flush bound (s)."""

    max_batch: int = MAX_BATCH
    flush_s: float = FLUSH_S

    def __post_init__(self) -> None:
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise ConfigurationError(f"max_batch must be an int >= 1, got {self.max_batch!r}")
        if not isinstance(self.flush_s, int | float) or self.flush_s < 0:
            raise ConfigurationError(f"flush_s must be a number of seconds >= 0, got {self.flush_s!r}")




def write_batch(conn: psycopg.Connection[Any], worker_id: uuid.UUID, batch: Sequence[Outcome]) -> set[int]:
    """Write ``batch`` in one autocommit statement; returns the ids that were applied.

    All successes (the common case): complete_success.sql. Anything else: every kind
    in one statement, complete_mixed.sql, so the batch is one plan, one round trip and
    one commit, and lands whole or not at all (a retried batch never finds half of
    itself already written and mistakes that half for fenced out). A batch of 100 with
    6 retries and 1 dead job, alone on its connection: 1.9-2.1 ms as one statement per
    kind pipelined in one transaction, 1.45 ms as one statement (all successes: 1.1 ms);
    inside a worker draining 5% failing jobs, 5.7-6.1 ms before, 2.8-3.7 ms after
    (docs/benchmarks.md, "Retries").
    """
    if not batch:
        return set()
    # In id order, the order in which the heartbeat (id = ANY(...)) locks the same rows:
    # the two statements never deadlock over a pair of jobs.
    batch = sorted(batch, key=_job_id)
    if all(o.kind is Kind.SUCCEEDED for o in batch):
        params: dict[str, Any] = {
            "ids": [o.job_id for o in batch],
            "attempts": [o.attempt for o in batch],
            "results": [o.result for o in batch],
            "worker": worker_id,
        }
        return _timed(conn, "complete_success", params)
    params = {
        "ids": [o.job_id for o in batch],
        "attempts": [o.attempt for o in batch],
        "states": [OUTCOMES[o.kind].state for o in batch],
        "results": [o.result for o in batch],
        # float(): Retry(delay=5) and Snooze(5) give ints, and psycopg refuses a list
        # mixing int and float (a DataError, which the completer would retry forever).
        "delays": [None if o.delay is None else float(o.delay) for o in batch],
        "refunds": [o.refund for o in batch],
        "errors": [o.error for o in batch],
        "last_errors": [o.last_error for o in batch],
        "worker": worker_id,
    }
    return _timed(conn, "complete_mixed", params)


def _timed(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> set[int]:
    # Both statements return the applied job's id first (complete_mixed's second column,
    # woken, only makes its NOTIFY step run), so the id is read as a scalar: a row class
    # would cost ~1 µs per completed job on the worker's hottest write.
    started = time.perf_counter()
    ids: list[int] = conn.cursor(row_factory=scalar_row).execute(query(name), params).fetchall()
    timing.record("complete", time.perf_counter() - started)
    return set(ids)


def _job_id(outcome: Outcome) -> int:
    return outcome.job_id


class Completer(Service):
    """A thread draining a queue of outcomes into batched, fenced writes; each batch is
    reported to ``on_written`` as a :class:`~.messages.Written` message."""

    name = "complete"

    def __init__(
        self,
        pool: Any,
        worker_id: uuid.UUID,
        on_written: Callable[[Written], None],
        config: CompleterConfig | None = None,
    ) -> None:
        super().__init__()
        self.config = config or CompleterConfig()
        self._pool = pool
        self._worker_id = worker_id
        self._on_written = on_written
        self._q: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._pending = 0
        self._cond = threading.Condition()
        self._give_up = threading.Event()

    def put(self, outcome: Outcome) -> None:
        with self._cond:
            self._pending += 1
        self._q.put(outcome)

    @property
    def pending(self) -> int:
        """Outcomes queued or being written."""
        return self._pending

    def flush(self, timeout: float | None) -> bool:
        """Wait until every queued outcome is written; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Flush (up to ``config.flush_s``), then end the thread; unwritten outcomes are
        abandoned to the rescuer."""
        if self._thread is None:
            return
        if not self.flush(self.config.flush_s):
            log.warning("could not write %s outcome(s) before stopping; leases will expire", self._pending)
            self._give_up.set()
        super().stop(timeout)

    def _interrupt(self) -> None:
        self._q.put(None)

    def run(self) -> None:
        while self.run_once() is not None:
            pass

    def run_once(self) -> float | None:
        """Write the next batch (blocks for its first outcome); None once stopped."""
        first = self._q.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.config.max_batch:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._q.put(None)  # finish this batch, then stop
                break
            batch.append(item)
        # Transactional tasks' successes committed with the task's own writes already.
        unwritten = [o for o in batch if not o.written]
        applied = self._write_with_retry(unwritten) if unwritten else set()
        applied.update(o.job_id for o in batch if o.written)
        try:
            self._on_written(Written(batch, applied))
        except Exception:
            log.exception("completion bookkeeping failed")
        with self._cond:
            self._pending -= len(batch)
            self._cond.notify_all()
        self._ran()
        return 0.0

    def _write_with_retry(self, batch: list[Outcome]) -> set[int]:
        for attempt in range(10_000):
            try:
                with self._pool.connection() as conn:
                    return write_batch(conn, self._worker_id, batch)
            except psycopg.Error as exc:
                delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
                log.warning("writing %s outcome(s) failed (%s); retrying in %ss", len(batch), exc, delay)
                if self._give_up.wait(delay):
                    break
        return set()
