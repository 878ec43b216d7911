"""The rescuer: gives the jobs of dead workers back to the queue."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import class_row

from .._sql import query
from .._state import MovedRow
from .election import lock_key

if TYPE_CHECKING:
    from .._state import JobRow

log = logging.getLogger("pgqueue.worker")

RESCUE_BATCH = 1000
FORGET_WORKER_S = 3600.0
"""A worker row expired for this long is deleted (unless it still owns a running job)."""
FORGET_BATCH = 100
"""At most this many worker rows are deleted per rescue pass."""


@dataclass(frozen=True, slots=True)
class RescuedJob:
    id: int
    queue: str
    task: str
    state: str
    attempt: int
    row: JobRow | None = None
    """The whole job after the rescue, read only when a ``job_rescued`` hook wants it."""
    rescued_by: uuid.UUID | None = None
    """The worker whose rescuer gave it back (set with ``row``)."""


class Rescuer:
    """One pass = one statement (see rescue.sql): if this process wins the election,
    running jobs whose lease expired go back to ``queued`` (or ``dead`` when out of
    attempts) with a "worker lost" error; then (worker_forget.sql) the rows of workers
    expired for ``forget_s`` seconds are deleted, never one that still owns a running job.

    Liveness decides, never a job's run time: a live worker's heartbeat keeps
    extending its leases.
    """

    def __init__(self, *, batch: int = RESCUE_BATCH, forget_s: float = FORGET_WORKER_S) -> None:
        self.batch = batch
        self.forget_s = forget_s
        self.key = lock_key("rescuer")

    def run_once(self, conn: psycopg.Connection[Any]) -> list[RescuedJob]:
        cur = conn.cursor(row_factory=class_row(MovedRow))
        rows = cur.execute(query("rescue"), {"lock_key": self.key, "limit": self.batch}).fetchall()
        self.forget(conn)
        rescued = [RescuedJob(r.id, r.queue, r.task, r.state, r.attempt) for r in rows]
        for job in rescued:
            log.warning(
                "job %s rescued from a lost worker -> %s",
                job.id,
                job.state,
                extra={"job_id": job.id, "task": job.task, "queue": job.queue, "attempt": job.attempt},
            )
        return rescued

    def forget(self, conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
        """Delete long-expired worker rows that own no running job (if this process wins
        the election); returns their ids. Run after the rescue has committed."""
        params = {"lock_key": self.key, "forget_s": self.forget_s, "limit": FORGET_BATCH}
        gone = [r[0] for r in conn.execute(query("worker_forget"), params).fetchall()]
        if gone:
            log.info("forgot %s worker(s) expired for over %.0fs", len(gone), self.forget_s)
        return gone

    @staticmethod
    def with_rows(
        conn: psycopg.Connection[Any], rescued: list[RescuedJob], rescued_by: uuid.UUID
    ) -> list[RescuedJob]:
        """``rescued`` with each job's row read back (one primary-key read each; rescues
        are rare), for the ``job_rescued`` hook. A job deleted meanwhile keeps None."""
        from dataclasses import replace

        from .._state import job_row

        cur = conn.cursor(row_factory=job_row)
        out = []
        for job in rescued:
            row = cur.execute(query("job_get"), {"id": job.id}).fetchone()
            out.append(replace(job, row=row, rescued_by=rescued_by))
        return out
