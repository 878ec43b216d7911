"""When the next scheduled job is due: the probe, the NOTIFY payload of scheduled jobs,
and the database's clock as seen from this process.

A worker claims a scheduled job (``run_at`` in the future: a delay, a retry back-off) at
its ``run_at``: its producer keeps one due-time timer (:meth:`~.wakeup.Wake.due_in`), set
from three sources. The probe (:func:`next_due`) asks the database after a short claim
that the start, a poll, the timer itself or a reconnect asked for. A scheduled insert's
NOTIFY (:func:`parse_wake`, migration 0010) carries its ``run_at`` and sets the timer
without a query. Retries and snoozes of the worker's own jobs set it when written.


A scheduled job's wake-up carries its ``run_at`` on the database's clock (seconds since
the epoch, migration 0010). To turn that into a moment on this process's monotonic clock
without a query, the producer samples the offset between the two with each probe of the
next due time (pgqueue/_sql/next_due.sql reads the database's clock in the same
statement): offset = database time - the midpoint of the round trip, off by at most half
the round trip. The sample with the shortest round trip among the recent ones is used,
a newer one preferred unless much quicker; samples expire after ``max_age_s``.

A timer set a little early costs one short claim and one probe (which then sets the timer
from the database's own answer); late timers are what the estimate must avoid.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import class_row

from .._sql import query

SAMPLES: Final = 8
"""Offset samples kept (one per probe; an idle worker probes at every poll)."""
AGE_WEIGHT: Final = 0.001
"""Seconds of round trip a sample's age counts as, per second of age."""
MAX_AGE_S: Final = 60.0
"""A sample older than this is not used: without a fresh one, a scheduled wake-up asks
for a probe instead."""


class DbClock:
    """Maps database epoch seconds to this process's ``clock`` (monotonic seconds)."""

    def __init__(
        self, *, max_age_s: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=SAMPLES)
        """(round trip s, offset s, taken at), newest last."""

    def sample(self, db_epoch: float, sent: float, received: float) -> None:
        """One reading of the database's clock, ``db_epoch``, taken by a statement sent
        at ``sent`` and answered at ``received`` (this process's clock)."""
        self._samples.append((received - sent, db_epoch - (sent + received) / 2.0, received))

    def offset(self) -> float | None:
        """Database epoch minus this process's clock (None: no fresh sample)."""
        now = self.clock()
        fresh = [s for s in self._samples if now - s[2] <= self.max_age_s]
        if not fresh:
            return None
        # The quickest round trip, but a newer sample wins unless much quicker: after a
        # clock step on either host, the old samples lose within a fraction of a second.
        return min(fresh, key=lambda s: s[0] + AGE_WEIGHT * (now - s[2]))[1]

    def seconds_until(self, db_epoch: float) -> float | None:
        """Seconds from now until the database's clock reads ``db_epoch`` (None: unknown)."""
        offset = self.offset()
        if offset is None:
            return None
        return db_epoch - offset - self.clock()


def parse_wake(payload: str) -> tuple[str, float | None]:
    """``(queue, run_at)`` of a wake-up payload: ``"<queue>"`` (jobs due now: run_at
    None) or ``"<queue> <epoch>"`` (a job scheduled for that moment, database clock).
    A malformed time reads as due now: a wasted claim, never a missed job."""
    queue, sep, at = payload.partition(" ")
    if not sep:
        return queue, None
    try:
        return queue, float(at)
    except ValueError:
        return queue, None


@dataclass(frozen=True, slots=True)
class DueRow:
    """The row of next_due.sql (all epoch figures on the database's clock)."""

    due_in_s: float | None
    """Seconds from the statement's start until the earliest scheduled job is due; None: none is."""
    run_at_epoch: float | None
    """That job's run_at in epoch seconds."""
    clock_epoch: float | None
    """The database's clock when the statement ran, in epoch seconds."""


def next_due(
    conn: psycopg.Connection[Any],
    queues: Sequence[str],
    clock: DbClock | None = None,
    tasks: Sequence[str] | None = None,
) -> float | None:
    """Seconds from now until the earliest scheduled job of ``queues`` (and of ``tasks``,
    unless None) is due (None: none is). Feeds ``clock`` a sample of the database's clock
    and, with it, maps the job's run_at onto this process's clock; the answer stays
    within the bounds the statement itself gives (its count from its start, less the
    round trip), so a wrong clock estimate can make the wait neither longer nor shorter
    than that."""
    sent = time.monotonic()
    params = {"queues": list(queues), "tasks": None if tasks is None else list(tasks)}
    row = conn.cursor(row_factory=class_row(DueRow)).execute(query("next_due"), params).fetchone()
    received = time.monotonic()
    if row is None:
        return None
    if clock is not None and row.clock_epoch is not None:
        clock.sample(row.clock_epoch, sent, received)
    if row.due_in_s is None or row.run_at_epoch is None:
        return None
    longest = max(0.0, row.due_in_s)
    shortest = max(0.0, longest - (received - sent))
    mapped = None if clock is None else clock.seconds_until(row.run_at_epoch)
    return longest if mapped is None else min(longest, max(shortest, mapped))
