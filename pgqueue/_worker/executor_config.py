"""The executor's configuration: its execution slots and where sync tasks run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from ..errors import ConfigurationError

CONCURRENCY: Final = 100
"""Execution slots per process, shared by sync (thread) and async (event loop) tasks. A
claim takes as many due jobs as there are free slots, so this also bounds the batch: at
10, short jobs drained at about 1.4k jobs/s; at 100, several times that (docs/benchmarks.md).
Lower it for tasks that each hold a scarce resource (a database connection, an API quota)."""

ASYNC_STOP_S: Final = 1.0
"""At shutdown past its timeout, how long cancelled async attempts get to unwind."""

POOL: Final = "thread"
"""Where sync tasks run: "thread" (a thread per slot) or "process" (pre-forked children the
worker can kill: hard timeouts, cancels, recycling). A task's ``pool=`` option wins."""

POOLS: Final = ("thread", "process")

STOP_PROCESSES_S: Final = 5.0
"""At shutdown past its timeout, how long killed pool children get to be reaped."""


def _positive_int(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1{' or None' if optional else ''}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """``concurrency``: execution slots of this process. ``pool``: where sync tasks run
    (POOL). Process pool: ``pool_size`` children (None: the CPU count, at most
    ``concurrency``), each holding up to concurrency / pool_size jobs;
    ``max_tasks_per_child`` jobs per child and ``max_memory_per_child`` MB of resident
    memory (checked after each job) before it is replaced (None: no limit). Raises
    ConfigurationError naming the bad field."""

    concurrency: int = CONCURRENCY
    pool: str = POOL
    pool_size: int | None = None
    max_tasks_per_child: int | None = None
    max_memory_per_child: float | None = None

    def __post_init__(self) -> None:
        _positive_int("concurrency", self.concurrency)
        if self.pool not in POOLS:
            raise ConfigurationError(f"pool must be 'thread' or 'process', got {self.pool!r}")
        _positive_int("pool_size", self.pool_size, optional=True)
        _positive_int("max_tasks_per_child", self.max_tasks_per_child, optional=True)
        mem = self.max_memory_per_child
        if mem is not None and (isinstance(mem, bool) or not isinstance(mem, int | float) or not mem > 0):
            raise ConfigurationError(f"max_memory_per_child must be MB > 0 or None, got {mem!r}")

    @property
    def children(self) -> int:
        """Children of the process pool."""
        if self.pool_size is not None:
            return self.pool_size
        return max(1, min(self.concurrency, os.cpu_count() or 1))
