"""``ctx.progress(...)``: throttled, fenced progress reports stored on the job row."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from ._sql import query
from .errors import InvalidOption

if TYPE_CHECKING:
    from .context import Context

PROGRESS_INTERVAL_S = 0.5
"""At most one progress write per attempt per interval (first and final always go)."""
MESSAGE_MAX = 500


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidOption(f"progress {what} must be a finite number, got {value!r}")
    if value < 0:
        raise InvalidOption(f"progress {what} must be >= 0, got {value!r}")
    return float(value)


def report(ctx: Context, current: float, total: float | None, message: str | None) -> bool:
    cur = _number(current, "current")
    tot = None if total is None else _number(total, "total")
    now = time.monotonic()
    final = tot is not None and cur >= tot
    last = ctx._progress_at
    if last is not None and not final and now - last < PROGRESS_INTERVAL_S:
        return False
    value: dict[str, Any] = {
        "current": current,
        "total": total,
        "message": None if message is None else str(message)[:MESSAGE_MAX],
        "at": datetime.now(UTC).isoformat(),
    }
    with ctx.app.pool.connection() as conn:
        conn.execute(
            query("job_progress"),
            {"id": ctx.job.id, "attempt": ctx.attempt, "worker": ctx.worker_id,
             "progress": Jsonb(value)},
        )
    ctx._progress_at = now
    return True
