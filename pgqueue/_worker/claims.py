"""The producer's queries: claim due jobs in batches.

Two claims, chosen per queue. Queues without limits take the fast claim (claim.sql):
one autocommit statement, ``FOR UPDATE SKIP LOCKED``, no lock on any shared row.
Queues with a concurrency or rate limit take the limited claim: one short transaction
that locks their ``pgqueue.queues`` rows (claim_lock.sql) and then claims within the
limits from a fresh snapshot (claim_limited.sql), so the limits hold across every
worker and host. A :class:`Claimer` learns which queues are limited from the claims
themselves (a limit set at runtime shows up on the next fast claim), so changes
take effect without restarts and without extra queries.

The fast claim has two shapes. The full claim (claim.sql) walks each queue's part of
jobs_claim_idx from its head. While a long transaction pins the xmin horizon, that head
fills with index entries of rows already claimed, which can be neither removed nor marked
dead, so the full claim gets slower with every job claimed since. A :class:`Claimer`
therefore remembers, per queue, the first job (in claim order) of its previous claim and,
once full claims have become slow (:class:`ClaimPace`), takes the bounded claim
(claim_bounded.sql), which starts the walk there. Jobs that became claimable behind a bound
(a higher priority or an older run_at enqueued since, a serial key released, a job handed
back or rescued) are claimed by the next full claim, which runs whenever a bounded claim
comes back short (once it is due) and at least every ``full_s / FULL_SHARE`` seconds
(``full_s``: what a full claim takes now), so full claims cost about FULL_SHARE of the time.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors

from .._sql import query
from ..job import JobRow
from . import timing
from .claim_rows import ClaimRow, claim_row, split
from .rated import TaskLimits

LIMITED_RECHECK_S: Final = 1.0
"""A queue at its concurrency limit with due jobs is claimed again after this long:
jobs finished by other workers wake no one (this worker's own completions do at once)."""
LOCK_TIMEOUT: Final = "2s"
"""How long a limited claim waits for its queues rows (an operator's open transaction
holding one makes the claim fail and be retried, not hang)."""
SERIAL_RACE_RETRIES: Final = 3
"""Claims retried at once after losing a serial-key race (jobs_serial_running_idx)."""
SERIAL_INDEX: Final = "jobs_serial_running_idx"

FULL_SHARE: Final = 0.1
"""While bounded claims are on, a full claim runs at the latest ``full_s / FULL_SHARE``
seconds after the previous one ended, so full claims take about this share of the time."""
FULL_SLOW_S: Final = 0.005
"""Bounded claims start once a full claim takes longer than this (a clean claim of a few
hundred jobs takes 1-3 ms on a small box) ..."""
FULL_SLOW_RATIO: Final = 2.0
"""... and, once bounded claims have been measured, only while a full claim takes this
many times longer than a bounded one (below that, the bound saves nothing worth the order
it gives up, and every claim is full again)."""
FULL_WINDOW: Final = 3
"""A full claim's cost is the quickest of the last this many (one that waited on a lock
or a WAL flush must neither turn bounded claims on nor push the next full claim away)."""
BOUNDED_WINDOW: Final = 8
"""A bounded claim's cost is the quickest of the last this many (a claim that waited on a
lock or a WAL flush says nothing about the index walk)."""
BOUNDED_HALF_LIFE_S: Final = 1.0
"""While claims are full, the last measured bounded cost halves every this many seconds,
so a stale measurement cannot keep bounded claims off (they come back on, measure
afresh, and go off again only if they still save nothing)."""

Bound = tuple[int, Any, int]
"""(priority, run_at, id) of the first job of a queue in a claim."""


def _order(job: JobRow) -> tuple[int, Any, int]:
    return (-job.priority, job.run_at, job.id)


def _order_key(bound: Bound) -> tuple[int, Any, int]:
    return (-bound[0], bound[1], bound[2])


def _serial_race(exc: pg_errors.UniqueViolation) -> bool:
    return exc.diag.constraint_name == SERIAL_INDEX


class ClaimPace:
    """Decides between the full and the bounded claim from how long each took.

    Bounded claims are on while a full claim (:attr:`full_s`) takes longer than ``slow_s``
    and longer than ``ratio`` times a bounded claim (:attr:`bounded_s`, once measured).
    While they are on, a full claim is due ``full_s / share`` seconds after the previous
    full claim ended. Durations are measured with ``time.perf_counter``; ``clock`` (monotonic
    seconds) only schedules the full claims, so tests can swap it for a fake.
    """

    def __init__(
        self,
        *,
        share: float = FULL_SHARE,
        slow_s: float = FULL_SLOW_S,
        ratio: float = FULL_SLOW_RATIO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self.slow_s = slow_s
        self.ratio = ratio
        self.clock = clock
        self._full: deque[float] = deque(maxlen=FULL_WINDOW)
        self._bounded: deque[float] = deque(maxlen=BOUNDED_WINDOW)
        self._bounded_at = -math.inf
        self.full_ended = -math.inf
        self.full_claims = 0
        self.bounded_claims = 0

    @property
    def full_s(self) -> float | None:
        """What a full claim costs: the quickest of the last few (None: none ran yet)."""
        return min(self._full) if self._full else None

    @property
    def bounded_s(self) -> float | None:
        """What a bounded claim costs: the quickest of the last few, decaying while
        none runs (None: none measured)."""
        if not self._bounded:
            return None
        idle = max(0.0, self.clock() - self._bounded_at)
        return min(self._bounded) * math.pow(0.5, idle / BOUNDED_HALF_LIFE_S)

    @property
    def bounded(self) -> bool:
        """Whether bounded claims are on."""
        full_s = self.full_s
        if full_s is None:
            return False
        return full_s > max(self.slow_s, self.ratio * (self.bounded_s or 0.0))

    def full_in(self) -> float:
        """Seconds until a full claim is due (<= 0: now; always 0 while bounded claims are off)."""
        full_s = self.full_s
        if full_s is None or not self.bounded:
            return 0.0
        return self.full_ended + full_s / self.share - self.clock()

    def record_full(self, seconds: float) -> None:
        self._full.append(seconds)
        self.full_ended = self.clock()
        self.full_claims += 1

    def record_bounded(self, seconds: float) -> None:
        self.bounded_claims += 1
        self._bounded.append(seconds)
        self._bounded_at = self.clock()


class Claimer:
    """Claims for one worker process (one claim at a time: the worker holds a lock).

    After each :meth:`claim`, ``retry_in`` is the number of seconds until the caller
    should claim again even if nothing wakes it (None: no such time): a limited queue can
    start more of its due jobs then, or a full claim is due to pick up jobs behind the
    bounds of a short bounded claim. ``throttled`` says whether a limit held due jobs
    back, so the caller should claim again when one of its own jobs finishes. ``pace``
    chooses between the full and the bounded claim (default: a :class:`ClaimPace`).
    """

    def __init__(
        self,
        worker_id: uuid.UUID,
        queues: Sequence[str],
        lease_s: float,
        *,
        pace: ClaimPace | None = None,
        rate_tasks: Sequence[tuple[str, int, float]] = (),
    ) -> None:
        self.worker_id = worker_id
        self.queues = tuple(queues)
        self.rated = TaskLimits(rate_tasks, self.queues, worker_id, lease_s)
        """The app's tasks with a ``rate_limit``: their jobs are claimed only by the
        task-limited claim (pgqueue._worker.rated)."""
        self.lease_s = lease_s
        self.limited: frozenset[str] = frozenset()
        self.retry_in: float | None = None
        self.throttled = False
        self.pace = pace if pace is not None else ClaimPace()
        self.bounds: dict[str, Bound] = {}
        """Per queue, the first job (claim order) of the last claim that got any of it."""

    def claim(self, conn: psycopg.Connection[Any], free: int) -> list[JobRow]:
        """Claim up to ``free`` due jobs (paused queues skipped, limits applied).

        Each returned job is now ``running`` with its attempt counted, owned by this
        worker until ``lease_s`` seconds from now unless a heartbeat extends it.
        Limited queues are claimed first (their allowance is bounded by their
        limits), then the unlimited ones fill the remaining slots. Sorted in claim
        order: priority (higher first), then run_at, then id.
        """
        self.retry_in = None
        self.throttled = False
        jobs: list[JobRow] = []
        rated = self.rated
        if rated.due():
            jobs += self._claim_tasks(conn, free)
        found = len(jobs)
        if self.limited and free > len(jobs):
            jobs += self._claim_limited(conn, free - len(jobs))
        rest = [q for q in self.queues if q not in self.limited]
        if rest and free > len(jobs):
            fast, newly_limited = self._claim_fast(conn, rest, free - len(jobs))
            jobs += fast
            rated.after_fast(found, full=len(jobs) == free)
            if newly_limited:
                self.limited = self.limited | newly_limited
                if free > len(jobs):
                    jobs += self._claim_limited(conn, free - len(jobs))
        jobs.sort(key=_order)
        return jobs

    def _claim_fast(
        self, conn: psycopg.Connection[Any], queues: list[str], limit: int
    ) -> tuple[list[JobRow], frozenset[str]]:
        pace = self.pace
        due_in = pace.full_in()
        if due_in > 0 and any(q in self.bounds for q in queues):
            jobs, limited = self._run_fast(conn, queues, limit, bounded=True)
            if len(jobs) == limit:
                return jobs, limited
            # Short: jobs may wait behind the bounds. The full claim runs now if it is
            # due, else when it is (the caller claims again then).
            due_in = pace.full_in()
            if due_in > 0:
                self._retry_at(due_in)
                return jobs, limited
            rest = [q for q in queues if q not in limited]
            if not rest:
                return jobs, limited
            more, also = self._run_fast(conn, rest, limit - len(jobs), bounded=False)
            return jobs + more, limited | also
        return self._run_fast(conn, queues, limit, bounded=False)

    def _run_fast(
        self, conn: psycopg.Connection[Any], queues: list[str], limit: int, *, bounded: bool
    ) -> tuple[list[JobRow], frozenset[str]]:
        params: dict[str, Any] = {
            "queues": queues,
            "limit": limit,
            "worker": self.worker_id,
            "lease_s": self.lease_s,
            "rate_tasks": self.rated.names,
        }
        if bounded:
            bounds = [self.bounds.get(q) for q in queues]
            params["b_priority"] = [None if b is None else b[0] for b in bounds]
            params["b_run_at"] = [None if b is None else b[1] for b in bounds]
            params["b_id"] = [None if b is None else b[2] for b in bounds]
        sql = query("claim_bounded") if bounded else query("claim")
        for attempt in range(SERIAL_RACE_RETRIES + 1):
            try:
                started = time.perf_counter()
                rows = conn.cursor(row_factory=claim_row).execute(sql, params).fetchall()
                took = time.perf_counter() - started
                break
            except pg_errors.UniqueViolation as exc:
                if not _serial_race(exc) or attempt == SERIAL_RACE_RETRIES:
                    raise
        timing.record("claim", took)
        if bounded:
            self.pace.record_bounded(took)
        else:
            self.pace.record_full(took)
        jobs, markers = split(rows)
        self._learn(jobs)
        return jobs, frozenset(m.name for m in markers)

    def _learn(self, jobs: list[JobRow]) -> None:
        """Each queue's bound becomes the first of its jobs in this claim."""
        first: dict[str, Bound] = {}
        for job in jobs:
            key = (job.priority, job.run_at, job.id)
            have = first.get(job.queue)
            if have is None or _order_key(key) < _order_key(have):
                first[job.queue] = key
        self.bounds.update(first)

    def _retry_at(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.retry_in = seconds if self.retry_in is None else min(self.retry_in, seconds)

    def _claim_limited(self, conn: psycopg.Connection[Any], limit: int) -> list[JobRow]:
        rows: list[ClaimRow] = []
        locked: list[str] = []
        for attempt in range(SERIAL_RACE_RETRIES + 1):
            try:
                with conn.transaction():
                    locked = [
                        r[0]
                        for r in conn.execute(
                            query("claim_lock"),
                            {"queues": sorted(self.limited), "lock_timeout": LOCK_TIMEOUT},
                        )
                    ]
                    if locked:
                        rows = conn.cursor(row_factory=claim_row).execute(
                            query("claim_limited"),
                            {
                                "locked": locked,
                                "limit": limit,
                                "worker": self.worker_id,
                                "lease_s": self.lease_s,
                                "recheck_s": LIMITED_RECHECK_S,
                            },
                        ).fetchall()
                break
            except pg_errors.UniqueViolation as exc:
                if not _serial_race(exc) or attempt == SERIAL_RACE_RETRIES:
                    raise
        # Queues whose limits were cleared go back to the fast claim.
        self.limited = frozenset(locked)
        jobs, markers = split(rows)
        for m in markers:
            self.throttled = True
            self._retry_at(m.wait_s or 0.0)
        return jobs


    def _claim_tasks(self, conn: psycopg.Connection[Any], limit: int) -> list[JobRow]:
        for attempt in range(SERIAL_RACE_RETRIES + 1):
            try:
                rows = self.rated.claim(conn, limit)
                break
            except pg_errors.UniqueViolation as exc:
                if not _serial_race(exc) or attempt == SERIAL_RACE_RETRIES:
                    raise
        jobs, markers = split(rows)
        waits = [max(0.0, m.wait_s or 0.0) for m in markers]
        if waits:
            self.throttled = True
            self._retry_at(min(waits))
        self.rated.after_claim(waits)
        return jobs


def claim(
    conn: psycopg.Connection[Any],
    worker_id: uuid.UUID,
    queues: Sequence[str],
    limit: int,
    lease_s: float,
) -> list[JobRow]:
    """Claim up to ``limit`` due jobs of ``queues`` once (paused queues skipped, limits
    applied); see :meth:`Claimer.claim`. A worker keeps one :class:`Claimer` instead."""
    return Claimer(worker_id, queues, lease_s).claim(conn, limit)


def claim_job(
    conn: psycopg.Connection[Any], worker_id: uuid.UUID, job_id: int, lease_s: float
) -> JobRow | None:
    """Claim one given job if it is queued (even if scheduled for later); else None."""
    row = (
        conn.cursor(row_factory=claim_row)
        .execute(query("claim_job"), {"id": job_id, "worker": worker_id, "lease_s": lease_s})
        .fetchone()
    )
    return row if isinstance(row, JobRow) else None

