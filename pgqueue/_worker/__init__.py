"""The worker daemon: several small services (see daemon.py for how they fit together)."""

from .config import WorkerConfig
from .daemon import Worker
from .events import WorkerEvent, WorkerStats

__all__ = ["Worker", "WorkerConfig", "WorkerEvent", "WorkerStats"]
