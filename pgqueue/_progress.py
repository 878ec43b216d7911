"""``ctx.progress(...)``: throttled, fenced progress reports stored on the job row."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from ._sql import query
from .errors import InvalidOption

PROGRESS_INTERVAL_S = 0.5
"""At most one progress write per attempt per interval (first and final always go)."""
MESSAGE_MAX = 500


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidOption(f"progress {what} must be a finite number, got {value!r}")
    if value < 0:
        raise InvalidOption(f"progress {what} must be >= 0, got {value!r}")
    return float(value)


def report(
    pool: Any, job_id: int, attempt: int, worker_id: uuid.UUID, last_at: float | None,
    current: float, total: float | None, message: str | None,
) -> float | None:
    """Write one report of attempt ``attempt`` unless one went out less than
    PROGRESS_INTERVAL_S after ``last_at``; the time it was written, or None (throttled)."""
    cur = _number(current, "current")
    tot = None if total is None else _number(total, "total")
    now = time.monotonic()
    final = tot is not None and cur >= tot
    last = last_at
    if last is not None and not final and now - last < PROGRESS_INTERVAL_S:
        return None
    value: dict[str, Any] = {
        "current": current,
        "total": total,
        "message": None if message is None else str(message)[:MESSAGE_MAX],
        "at": datetime.now(UTC).isoformat(),
    }
    with pool.connection() as conn:
        conn.execute(
            query("job_progress"),
            {"id": job_id, "attempt": attempt, "worker": worker_id, "progress": Jsonb(value)},
        )
    return now
