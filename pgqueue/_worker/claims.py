"""The producer's queries: claim due jobs in batches, and find when the next one is due."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from .._sql import query
from ..job import JobRow, JobState


def _row(values: tuple[Any, ...]) -> JobRow:
    fields = list(values)
    fields[6] = JobState(fields[6])
    return JobRow(*fields)


def claim(
    conn: psycopg.Connection[Any],
    worker_id: uuid.UUID,
    queues: Sequence[str],
    limit: int,
    lease_s: float,
) -> list[JobRow]:
    """Claim up to ``limit`` due jobs of ``queues`` (paused queues skipped).

    Each returned job is now ``running`` with its attempt counted, owned by
    ``worker_id`` until ``lease_s`` seconds from now unless a heartbeat extends it.
    Sorted in claim order: priority (higher first), then run_at, then id.
    """
    rows = conn.execute(
        query("claim"),
        {"queues": list(queues), "limit": limit, "worker": worker_id, "lease_s": lease_s},
    ).fetchall()
    jobs = [_row(r) for r in rows]
    jobs.sort(key=lambda j: (-j.priority, j.run_at, j.id))
    return jobs


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
