"""Liveness: the worker registry row and the leases of the jobs a process holds.

:class:`Heartbeat` builds the one statement; :class:`LeaseKeeper` is the service that
sends it every ``interval`` seconds for the attempts the executor holds, and passes on
what it learns: leases lost (rescued while this process was unreachable) and cancels an
operator asked for (the safety net for a missed control message).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from .. import _db, _revision
from .._sql import query
from ..errors import ConfigurationError
from .events import WorkerStats
from .execution import Execution
from .service import Service

log = logging.getLogger("pgqueue.worker")

LEASE_S: Final = 9.0
"""A running job's lease; extended by every heartbeat of its live worker."""
HEARTBEAT_INTERVAL_S: Final = 3.0
"""One statement per process per interval: registry row + leases of the jobs it holds."""
REGISTER_RETRY_S: Final = 60.0
"""How long a starting worker retries its registration after losing a connection that
had just answered (a failover or restart under way) before it gives up."""


@dataclass(frozen=True, slots=True)
class HeartbeatConfig:
    """``lease`` and ``interval`` in seconds; the lease must outlast two intervals.
    Raises ConfigurationError naming the bad field."""

    lease: float = LEASE_S
    interval: float = HEARTBEAT_INTERVAL_S

    def __post_init__(self) -> None:
        for name, field_name in (("lease", "lease"), ("interval", "heartbeat_interval")):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{field_name} must be a number of seconds > 0, got {value!r}")
        if self.interval * 2 > self.lease:
            raise ConfigurationError(
                f"lease ({self.lease}s) must be at least twice heartbeat_interval "
                f"({self.interval}s) so one late heartbeat does not lose the jobs"
            )


@dataclass(frozen=True, slots=True)
class HeartbeatRow:
    """A row of heartbeat.sql: a held job whose lease was extended."""

    id: int
    cancel_requested: bool
    """An operator asked to cancel it."""


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
        meta: dict[str, Any] | None = None,
    ) -> None:
        from .._version import __version__

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

    def beat(
        self, conn: psycopg.Connection[Any], job_ids: Iterable[int], counts: dict[str, int] | None = None
    ) -> set[int]:
        """``counts``: the process's totals kept in its row (``meta.counts``, see
        :data:`~.events.ROW_COUNTS`)."""
        params = dict(
            self._static, lease_s=self.lease_s, stopping=self.stopping, ids=sorted(job_ids),
            counts=Jsonb(counts or {}),
        )  # fmt: skip
        rows = conn.cursor(row_factory=class_row(HeartbeatRow)).execute(query("heartbeat"), params).fetchall()
        self.cancel_requested = {r.id for r in rows if r.cancel_requested}
        return {r.id for r in rows}

    def deregister(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(query("worker_deregister"), {"worker": self.worker_id})


class Held(Protocol):
    """What the lease keeper needs of the executor."""

    @property
    def busy(self) -> int: ...

    def held(self) -> list[tuple[int, Execution]]: ...

    def lease_lost(self, job_id: int, ex: Execution) -> None: ...

    def cancel_job(self, job_id: int) -> None: ...


class LeaseKeeper(Service):
    """Sends :class:`Heartbeat` every ``config.interval`` seconds (the first one after an
    interval: start-up has just sent one). ``healthy_since`` is the monotonic time since
    which heartbeats succeed (None while they fail): the rescuer waits on it."""

    name = "heartbeat"

    def __init__(
        self, config: HeartbeatConfig, heartbeat: Heartbeat, pool: Any, executor: Held, stats: WorkerStats
    ) -> None:
        super().__init__()
        self.config = config
        self.error_backoff = config.interval
        self._stats = stats
        self.heartbeat = heartbeat
        self._pool = pool
        self._executor = executor
        self.healthy_since: float | None = None
        self._first = True

    def register(self, give_up: Callable[[], bool] = lambda: False) -> None:
        """Check the schema, then the first beat, on the calling thread.

        A schema behind this pgqueue's newest migration raises SchemaOutOfDate (one
        sentence naming both revisions and ``pgqueue migrate``; ``pgqueue work`` exits 4)
        before anything is written: such a worker would fail later on whatever its
        statements need. A newer schema (a newer release migrated first) only warns:
        migrations add, so this release keeps working (docs/upgrading.md). Raises what
        the statements raise (UndefinedTable: no pgqueue schema at all).

        The database answered the worker's probe a moment before, so a connection lost
        here is a restart or a failover under way: it is retried with back-off for up to
        ``REGISTER_RETRY_S`` (or until ``give_up()`` says the worker is being stopped)
        rather than ending the worker."""
        deadline = time.monotonic() + REGISTER_RETRY_S
        delay = 0.25
        while True:
            try:
                self._register_once()
                return
            except psycopg.OperationalError as exc:
                if give_up() or time.monotonic() + delay > deadline:
                    raise
                log.warning("could not register the worker (%s); retrying in %.2gs", exc, delay)
            for _ in range(max(1, int(delay / 0.05))):
                if give_up():
                    break
                time.sleep(0.05)
            delay = min(delay * 2, 5.0)

    def _register_once(self) -> None:
        with self._pool.connection() as conn:
            note = _db.check_revision(_revision.read(conn))
            if note:
                log.warning("%s", note)
            self.heartbeat.beat(conn, ())
        self.healthy_since = time.monotonic()

    def deregister(self, conn: psycopg.Connection[Any]) -> None:
        self.heartbeat.deregister(conn)

    @property
    def stopping(self) -> bool:
        return self.heartbeat.stopping

    def mark_stopping(self) -> None:
        """Shown in the registry row from the next beat on."""
        self.heartbeat.stopping = True

    def run_once(self) -> float | None:
        if self._first:
            self._first = False
            return self.config.interval
        held = self._executor.held()
        try:
            with self._pool.connection() as conn:
                extended = self.heartbeat.beat(conn, [job_id for job_id, _ in held], self._stats.row_counts())
        except Exception:
            self.healthy_since = None
            raise
        if self.healthy_since is None:
            self.healthy_since = time.monotonic()
        self._stats.running = self._executor.busy
        for job_id in self.heartbeat.cancel_requested:
            self._executor.cancel_job(job_id)
        for job_id, ex in held:
            if job_id not in extended:
                self._executor.lease_lost(job_id, ex)
        return self.config.interval
