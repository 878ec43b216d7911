"""The maintenance service's settings: named defaults with units, validated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from .._settings import Retention

RESCUE_INTERVAL_S: Final = 5.0
"""How often the elected rescuer looks for expired leases. With the defaults a SIGKILLed
worker's jobs are queued again at most LEASE_S + RESCUE_INTERVAL_S = 14 s later."""
RETENTION_INTERVAL_S: Final = 60.0
"""How often a worker offers to prune finished jobs (one process at a time does it)."""
RETENTION_BACKLOG_S: Final = 1.0
"""After a retention pass that stopped at its batch cap (more is eligible), the next pass
comes this soon instead of a whole interval later: a queue finishing more jobs per
interval than one pass deletes would otherwise grow without bound."""
HISTORY_INTERVAL_S: Final = 60.0
"""How often a worker offers to roll finished jobs up into the history tables and sample
queue depth (:func:`pgqueue.dashboard.history.record`; one process at a time does it).
Ticks are aligned to the wall clock, HISTORY_OFFSET_S past each multiple of the interval,
so every minute gets its depth sample and the minute that just ended is rolled up."""
HISTORY_OFFSET_S: Final = 15.0
TICK_PRUNE_INTERVAL_S: Final = 3600.0
"""How often a worker offers to delete old cron tick slots (one process at a time)."""
TICK_RETENTION_S: Final = 86400.0
"""Cron tick slots are kept this long (each schedule's newest is always kept): a slot only
has to outlive any scheduler that could still race for its tick, and schedulers fire
from the schedule's stored last fire time. A 1 s interval schedule keeps 86,400 rows."""


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    """Which duties this process takes part in, and how often. ``rescue=False`` only for
    special deployments; every worker may run ``cron`` (each tick still fires exactly
    once). Raises ConfigurationError naming the bad field."""

    rescue: bool = True
    rescue_interval: float = RESCUE_INTERVAL_S
    retention: bool = True
    retention_interval: float = RETENTION_INTERVAL_S
    cron: bool = True
    history: bool = True
    """Keep the dashboard's history (rollups and depth samples), elected per tick."""
    history_interval: float = HISTORY_INTERVAL_S
    retention_policy: Retention | None = None
    """How long finished jobs are kept (None: the App's ``app.retention``, from its
    ``retention_*_s`` settings, whose defaults are :class:`~pgqueue._settings.Retention`'s)."""
    tick_retention: float = TICK_RETENTION_S
    tick_prune_interval: float = TICK_PRUNE_INTERVAL_S

    def __post_init__(self) -> None:
        for name in (
            "rescue_interval", "retention_interval", "tick_retention", "tick_prune_interval",
            "history_interval",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
