"""The producer's queries: claim due jobs in batches, and find when the next one is due.

Two claims, chosen per queue. Queues without limits take the fast claim (claim.sql):
one autocommit statement, ``FOR UPDATE SKIP LOCKED``, no lock on any shared row.
Queues with a concurrency or rate limit take the limited claim: one short transaction
that locks their ``pgqueue.queues`` rows (claim_lock.sql) and then claims within the
limits from a fresh snapshot (claim_limited.sql), so the limits hold across every
worker and host. A :class:`Claimer` learns which queues are limited from the claims
themselves (a limit set at runtime shows up on the next fast claim), so changes
take effect without restarts and without extra queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors

from .._sql import query
from ..job import JobRow, JobState

LIMITED_RECHECK_S: Final = 1.0
"""A queue at its concurrency limit with due jobs is claimed again after this long:
jobs finished by other workers wake no one (this worker's own completions do at once)."""
LOCK_TIMEOUT: Final = "2s"
"""How long a limited claim waits for its queues rows (an operator's open transaction
holding one makes the claim fail and be retried, not hang)."""
SERIAL_RACE_RETRIES: Final = 3
"""Claims retried at once after losing a serial-key race (jobs_serial_running_idx)."""
SERIAL_INDEX: Final = "jobs_serial_running_idx"


def _row(values: Sequence[Any]) -> JobRow:
    fields = list(values)
    fields[6] = JobState(fields[6])
    return JobRow(*fields)


def _order(job: JobRow) -> tuple[int, Any, int]:
    return (-job.priority, job.run_at, job.id)


def _serial_race(exc: pg_errors.UniqueViolation) -> bool:
    return exc.diag.constraint_name == SERIAL_INDEX


class Claimer:
    """Claims for one worker process (used from the producer thread only).

    After each :meth:`claim`, ``retry_in`` is the number of seconds until a limited
    queue can start more of its due jobs (None: nothing is held back) and
    ``throttled`` says whether a limit held due jobs back, so the caller should claim
    again when one of its own jobs finishes.
    """

    def __init__(self, worker_id: uuid.UUID, queues: Sequence[str], lease_s: float) -> None:
        self.worker_id = worker_id
        self.queues = tuple(queues)
        self.lease_s = lease_s
        self.limited: frozenset[str] = frozenset()
        self.retry_in: float | None = None
        self.throttled = False

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
        if self.limited:
            jobs += self._claim_limited(conn, free)
        rest = [q for q in self.queues if q not in self.limited]
        if rest and free > len(jobs):
            fast, newly_limited = self._claim_fast(conn, rest, free - len(jobs))
            jobs += fast
            if newly_limited:
                self.limited = self.limited | newly_limited
                if free > len(jobs):
                    jobs += self._claim_limited(conn, free - len(jobs))
        jobs.sort(key=_order)
        return jobs

    def _claim_fast(
        self, conn: psycopg.Connection[Any], queues: list[str], limit: int
    ) -> tuple[list[JobRow], frozenset[str]]:
        params = {"queues": queues, "limit": limit, "worker": self.worker_id, "lease_s": self.lease_s}
        for attempt in range(SERIAL_RACE_RETRIES + 1):
            try:
                rows = conn.execute(query("claim"), params).fetchall()
                break
            except pg_errors.UniqueViolation as exc:
                if not _serial_race(exc) or attempt == SERIAL_RACE_RETRIES:
                    raise
        jobs = [_row(r) for r in rows if r[0] is not None]
        return jobs, frozenset(r[1] for r in rows if r[0] is None)

    def _claim_limited(self, conn: psycopg.Connection[Any], limit: int) -> list[JobRow]:
        rows: list[tuple[Any, ...]] = []
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
                        rows = conn.execute(
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
        jobs: list[JobRow] = []
        for r in rows:
            if r[0] is not None:
                jobs.append(_row(r))
                continue
            self.throttled = True
            wait = max(0.0, (r[9] - r[11]).total_seconds())
            self.retry_in = wait if self.retry_in is None else min(self.retry_in, wait)
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
    values = conn.execute(
        query("claim_job"), {"id": job_id, "worker": worker_id, "lease_s": lease_s}
    ).fetchone()
    return None if values is None else _row(values)


def next_due(conn: psycopg.Connection[Any], queues: Sequence[str]) -> float | None:
    """Seconds until the earliest scheduled job of ``queues`` is due (None: none is)."""
    values = conn.execute(query("next_due"), {"queues": list(queues)}).fetchone()
    return None if values is None or values[0] is None else max(0.0, float(values[0]))
