"""The rescuer: gives the jobs of dead workers back to the queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from .._sql import query
from .election import lock_key

log = logging.getLogger("pgqueue.worker")

RESCUE_BATCH = 1000
FORGET_WORKER_S = 3600.0


@dataclass(frozen=True, slots=True)
class RescuedJob:
    id: int
    queue: str
    task: str
    state: str
    attempt: int


class Rescuer:
    """One pass = one statement (see rescue.sql): if this process wins the election,
    running jobs whose lease expired go back to ``queued`` (or ``dead`` when out of
    attempts) with a "worker lost" error, and long-expired worker rows are deleted.

    Liveness decides, never a job's run time: a live worker's heartbeat keeps
    extending its leases.
    """

    def __init__(self, *, batch: int = RESCUE_BATCH, forget_s: float = FORGET_WORKER_S) -> None:
        self.batch = batch
        self.forget_s = forget_s
        self.key = lock_key("rescuer")

    def run_once(self, conn: psycopg.Connection[Any]) -> list[RescuedJob]:
        rows = conn.execute(
            query("rescue"), {"lock_key": self.key, "limit": self.batch, "forget_s": self.forget_s}
        ).fetchall()
        rescued = [RescuedJob(*r[:5]) for r in rows]
        for job in rescued:
            log.warning(
                "job %s rescued from a lost worker -> %s",
                job.id,
                job.state,
                extra={"job_id": job.id, "task": job.task, "queue": job.queue, "attempt": job.attempt},
            )
        return rescued
