"""The execution log the worker, limits and chaos test apps write to (table exec_log,
created by each test in its own database): one row per attempt, start and end times."""

from __future__ import annotations

import os
from typing import Any

import pgqueue


def log_start(pool: Any, ctx: pgqueue.Context) -> int:
    """Record that this attempt started (database clock); return the log row's id."""
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO exec_log (job_id, attempt, pid, started_at) "
            "VALUES (%s, %s, %s, clock_timestamp()) RETURNING id",
            (ctx.job.id, ctx.attempt, os.getpid()),
        ).fetchone()
    assert row is not None
    return int(row[0])


def log_end(pool: Any, log_id: int) -> None:
    """Record that the attempt of log row ``log_id`` finished."""
    with pool.connection() as conn:
        conn.execute("UPDATE exec_log SET finished_at = clock_timestamp() WHERE id = %s", (log_id,))
