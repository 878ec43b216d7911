"""The task-limited claim: jobs of tasks with a ``rate_limit`` (``@app.task(rate_limit=
"10/m")``), claimed within their limits across every worker.

One short transaction: lock the tasks' ``pgqueue.task_limits`` rows (claim_task_lock.sql,
created on first use by claim_task_ensure.sql), then claim from a fresh snapshot within
each task's sliding window (claim_task.sql), which logs the starts in
``pgqueue.task_starts``. The fast claims skip these tasks' jobs. A worker whose app has no
such task never runs any of this. Two gates keep it cheap: while every task is at its
limit no statement runs until the first can start again, and while the fast claim comes
back full (a backlog of other jobs) a task claim that found nothing is repeated at most
every ``TASK_RECHECK_S``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

import psycopg

from .._sql import query
from .claim_rows import ClaimRow, claim_row

TASK_SCAN: Final = 1000
"""The task-limited claim looks at most this many due jobs at the head of each queue."""
TASK_RECHECK_S: Final = 0.05
"""With a backlog of other jobs, how often a task claim that found nothing runs again
(the head of the queue moves as the backlog is claimed)."""
LOCK_TIMEOUT: Final = "2s"
"""How long a claim waits for the task_limits rows (then it fails and is retried)."""


class TaskLimits:
    """The rate-limited tasks of one worker's app and the gates on claiming them."""

    def __init__(
        self,
        tasks: Sequence[tuple[str, int, float]],
        queues: Sequence[str],
        worker_id: uuid.UUID,
        lease_s: float,
    ) -> None:
        self.tasks = tuple(sorted(tasks))
        """(task, starts, period s) per rate-limited task."""
        self.names = [t for t, _, _ in self.tasks]
        self._queues = list(queues)
        self._worker_id = worker_id
        self._lease_s = lease_s
        self._blocked_until = -math.inf
        self._next = -math.inf

    def due(self) -> bool:
        """Whether a task-limited claim should run now."""
        if not self.tasks:
            return False
        now = time.monotonic()
        return now >= self._blocked_until and now >= self._next

    def claim(self, conn: psycopg.Connection[Any], limit: int) -> list[ClaimRow]:
        """Run the claim; its rows: claimed jobs and one marker per task at its limit
        (with the seconds until the task can start more)."""
        lock = {"tasks": self.names, "lock_timeout": LOCK_TIMEOUT}
        with conn.transaction():
            if len(conn.execute(query("claim_task_lock"), lock).fetchall()) < len(self.names):
                conn.execute(query("claim_task_ensure"), {"tasks": self.names})
                conn.execute(query("claim_task_lock"), lock)
            return conn.cursor(row_factory=claim_row).execute(
                query("claim_task"),
                {
                    "tasks": self.names,
                    "limits": [n for _, n, _ in self.tasks],
                    "periods": [p for _, _, p in self.tasks],
                    "queues": self._queues,
                    "limit": limit,
                    "scan": TASK_SCAN,
                    "worker": self._worker_id,
                    "lease_s": self._lease_s,
                },
            ).fetchall()

    def after_claim(self, waits: list[float]) -> None:
        """``waits``: seconds until each task at its limit can start more."""
        if len(waits) == len(self.names):
            self._blocked_until = time.monotonic() + min(waits)

    def after_fast(self, found: int, *, full: bool) -> None:
        """The fast claim ran after a task claim that found ``found`` jobs."""
        self._next = time.monotonic() + TASK_RECHECK_S if full and not found else -math.inf
