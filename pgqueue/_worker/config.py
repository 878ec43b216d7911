"""Worker settings: named defaults with units, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from ..errors import ConfigurationError

CONCURRENCY: Final = 100
"""Execution slots per process, shared by sync (thread) and async (event loop) tasks. A
claim takes as many due jobs as there are free slots, so this also bounds the batch: at
10, short jobs drained at about 1.4k jobs/s; at 100, several times that (docs/benchmarks.md).
Lower it for tasks that each hold a scarce resource (a database connection, an API quota)."""
POLL_INTERVAL_S: Final = 5.0
"""Safety-net poll; LISTEN/NOTIFY wakes idle workers within milliseconds of a commit."""
LEASE_S: Final = 9.0
"""A running job's lease; extended by every heartbeat of its live worker."""
HEARTBEAT_INTERVAL_S: Final = 3.0
"""One statement per process per interval: registry row + leases of the jobs it holds."""
RESCUE_INTERVAL_S: Final = 5.0
"""How often the elected rescuer looks for expired leases. With the defaults a SIGKILLed
worker's jobs are queued again at most LEASE_S + RESCUE_INTERVAL_S = 14 s later."""
RETENTION_INTERVAL_S: Final = 60.0
"""How often a worker offers to prune finished jobs (one process at a time does it)."""
SHUTDOWN_TIMEOUT_S: Final = 30.0
"""SIGTERM: how long running jobs may take to finish before they are handed back."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How one worker process claims, runs and keeps its jobs.

    ``queues=None`` serves the queues of the app's registered tasks plus the app's
    default queue. ``listen=False`` is the poll-only mode (no LISTEN connection, e.g.
    behind a transaction pooler without ``listen_dsn``). Raises ConfigurationError
    naming the bad field.
    """

    queues: tuple[str, ...] | None = None
    concurrency: int = CONCURRENCY
    poll_interval: float = POLL_INTERVAL_S
    lease: float = LEASE_S
    heartbeat_interval: float = HEARTBEAT_INTERVAL_S
    rescue_interval: float = RESCUE_INTERVAL_S
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_S
    listen: bool = True
    listen_dsn: str | None = None
    rescue: bool = True
    """Take part in the rescuer election (turn off only for special deployments)."""
    cron: bool = True
    """Run the app's periodic schedules (pgqueue._maintenance.cron); every worker may, each
    tick still fires exactly once."""
    retention: bool = True
    """Take part in pruning finished jobs past their retention (pgqueue._admin.prune)."""
    stop_when_idle: bool = False
    """Stop once no job is due, none is scheduled for later and nothing runs."""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ConfigurationError(f"concurrency must be an int, got {self.concurrency!r}")
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be >= 1, got {self.concurrency}")
        for name in ("poll_interval", "lease", "heartbeat_interval", "rescue_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
        if not isinstance(self.shutdown_timeout, int | float) or self.shutdown_timeout < 0:
            raise ConfigurationError(
                f"shutdown_timeout must be a number of seconds >= 0, got {self.shutdown_timeout!r}"
            )
        if self.heartbeat_interval * 2 > self.lease:
            raise ConfigurationError(
                f"lease ({self.lease}s) must be at least twice heartbeat_interval "
                f"({self.heartbeat_interval}s) so one late heartbeat does not lose the jobs"
            )
        if self.queues is not None and not self.queues:
            raise ConfigurationError("queues must name at least one queue (or be None for all)")
