"""Worker settings: one flat, validated object for users and the CLI, made of the configs
of the services (each with its named defaults beside the service that uses it).

``pgqueue work``'s options take their defaults from these fields (:func:`default`).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final

from .._maintenance.config import (
    HISTORY_INTERVAL_S,
    RESCUE_INTERVAL_S,
    RETENTION_INTERVAL_S,
    MaintenanceConfig,
)
from ..errors import ConfigurationError
from .completer import CompleterConfig
from .executor_config import CONCURRENCY, POOL, ExecutorConfig
from .heartbeat import HEARTBEAT_INTERVAL_S, LEASE_S, HeartbeatConfig
from .notifier import NotifierConfig
from .producer import POLL_INTERVAL_S, ProducerConfig

if TYPE_CHECKING:
    from .._settings import Retention

__all__ = [
    "CONCURRENCY",
    "HEARTBEAT_INTERVAL_S",
    "LEASE_S",
    "POLL_INTERVAL_S",
    "POOL",
    "RESCUE_INTERVAL_S",
    "RETENTION_INTERVAL_S",
    "SHUTDOWN_TIMEOUT_S",
    "WorkerConfig",
    "default",
]

SHUTDOWN_TIMEOUT_S: Final = 30.0
"""SIGTERM: how long running jobs may take to finish before they are handed back."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How one worker process claims, runs and keeps its jobs.

    ``queues=None`` serves the queues of the app's registered tasks plus the app's
    default queue. ``listen=False`` is the poll-only mode (no LISTEN connection, e.g.
    behind a transaction pooler without ``listen_dsn``). Raises ConfigurationError
    naming the bad field. The properties give each service its own config.
    """

    queues: tuple[str, ...] | None = None
    concurrency: int = CONCURRENCY
    pool: str = POOL
    """Where sync tasks run: "thread", or "process" (pre-forked children; see executor.py)."""
    pool_size: int | None = None
    """Process pool: children (None: the CPU count, at most ``concurrency``)."""
    max_tasks_per_child: int | None = None
    """Process pool: jobs a child runs before it is replaced (None: no limit)."""
    max_memory_per_child: float | None = None
    """Process pool: resident MB above which a child is replaced after its job."""
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
    history: bool = True
    """Take part in keeping the dashboard's history (pgqueue.dashboard.history: finished jobs
    per minute and hour, queue depth per minute; one process per tick)."""
    history_interval: float = HISTORY_INTERVAL_S
    retention_policy: Retention | None = None
    """How long finished jobs are kept (None: the App's ``retention_*_s`` settings,
    ``app.retention``); ``pgqueue work --retention``."""
    stop_when_idle: bool = False
    """Stop once no job this worker can run is due or scheduled for later and nothing runs
    (jobs of tasks its app does not register are not its work: it hands them back and
    stops without waiting for them)."""
    unknown_tasks: str | None = None
    """A claimed job whose task the app does not register: ``wait`` hands it back untouched
    for a worker that knows it, ``fail`` runs it as a failing attempt (UnknownTask). None:
    the environment variable PGQUEUE_UNKNOWN_TASKS, else ``wait``."""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Each service validates its own part (and names the field).
        _ = self.executor, self.producer, self.heartbeat, self.maintenance, self.notifier
        if not isinstance(self.shutdown_timeout, int | float) or self.shutdown_timeout < 0:
            raise ConfigurationError(
                f"shutdown_timeout must be a number of seconds >= 0, got {self.shutdown_timeout!r}"
            )
        if self.queues is not None and not self.queues:
            raise ConfigurationError("queues must name at least one queue (or be None for all)")

    @property
    def executor(self) -> ExecutorConfig:
        return ExecutorConfig(
            concurrency=self.concurrency,
            pool=self.pool,
            pool_size=self.pool_size,
            max_tasks_per_child=self.max_tasks_per_child,
            max_memory_per_child=self.max_memory_per_child,
        )

    @property
    def producer(self) -> ProducerConfig:
        if self.unknown_tasks is None:  # the producer's own default (the environment's)
            return ProducerConfig(poll_interval=self.poll_interval, stop_when_idle=self.stop_when_idle)
        return ProducerConfig(
            poll_interval=self.poll_interval,
            stop_when_idle=self.stop_when_idle,
            unknown_tasks=self.unknown_tasks,
        )

    @property
    def heartbeat(self) -> HeartbeatConfig:
        return HeartbeatConfig(lease=self.lease, interval=self.heartbeat_interval)

    @property
    def notifier(self) -> NotifierConfig:
        return NotifierConfig(listen=self.listen, listen_dsn=self.listen_dsn)

    @property
    def completer(self) -> CompleterConfig:
        return CompleterConfig()

    @property
    def maintenance(self) -> MaintenanceConfig:
        return MaintenanceConfig(
            rescue=self.rescue,
            rescue_interval=self.rescue_interval,
            retention=self.retention,
            retention_policy=self.retention_policy,
            cron=self.cron,
            history=self.history,
            history_interval=self.history_interval,
        )


def default(name: str) -> Any:
    """The default of WorkerConfig field ``name`` (for the CLI's options and the docs)."""
    for f in fields(WorkerConfig):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            raise KeyError(f"WorkerConfig.{name} has no plain default")
    raise KeyError(f"WorkerConfig has no field {name!r}")
