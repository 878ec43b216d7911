"""Liveness: the worker registry row and the leases of the jobs a process holds."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .._sql import query


class Heartbeat:
    """Builds the one heartbeat statement of a worker process.

    Each :meth:`beat` upserts the ``pgqueue.workers`` row (``expires_at`` = now + lease)
    and extends the lease of the given jobs still held by this worker. Returns the
    ids whose lease was extended; a held id missing from it was rescued meanwhile.
    ``cancel_requested`` then holds the extended ids an operator asked to cancel: the
    safety net for a control message the listener missed.
    """

    def __init__(
        self,
        worker_id: uuid.UUID,
        queues: Sequence[str],
        concurrency: int,
        lease_s: float,
        meta: dict[str, str] | None = None,
    ) -> None:
        from .. import __version__

        self.worker_id = worker_id
        self.lease_s = lease_s
        self.stopping = False
        self.cancel_requested: set[int] = set()
        self._static: dict[str, Any] = {
            "worker": worker_id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "queues": list(queues),
            "concurrency": concurrency,
            "version": __version__,
            "meta": Jsonb(meta or {}),
        }

    def beat(self, conn: psycopg.Connection[Any], job_ids: Iterable[int]) -> set[int]:
        params = dict(self._static, lease_s=self.lease_s, stopping=self.stopping, ids=sorted(job_ids))
        rows = conn.execute(query("heartbeat"), params).fetchall()
        self.cancel_requested = {r[0] for r in rows if r[1]}
        return {r[0] for r in rows}

    def deregister(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(query("worker_deregister"), {"worker": self.worker_id})
