"""The worker daemon: several small services wired together by worker.py (see
docs/architecture.md for the hot path, file by file)."""

from .config import WorkerConfig
from .events import WorkerEvent, WorkerStats
from .worker import Worker

__all__ = ["Worker", "WorkerConfig", "WorkerEvent", "WorkerStats"]
