"""pgqueue: background jobs that live in your PostgreSQL database.

Everything a user touches is re-exported here; underscore modules are private.
"""

from __future__ import annotations

from ._dsn import resolve_dsn
from ._hooks import JobEvent
from ._settings import HIGH, LOW, NORMAL, Settings
from ._version import __version__
from ._worker import Worker
from .app import App
from .context import Context
from .errors import (
    Discard,
    JobCancelled,
    JobExpired,
    JobFailed,
    PayloadTooLarge,
    PgQueueError,
    Retry,
    Snooze,
    UnknownTask,
)
from .job import Job, JobState
from .task import Task
from .workflow import chain, chord, group

__all__ = [
    "HIGH",
    "LOW",
    "NORMAL",
    "App",
    "Context",
    "Discard",
    "Job",
    "JobCancelled",
    "JobEvent",
    "JobExpired",
    "JobFailed",
    "JobState",
    "PayloadTooLarge",
    "PgQueueError",
    "Retry",
    "Settings",
    "Snooze",
    "Task",
    "UnknownTask",
    "Worker",
    "__version__",
    "chain",
    "chord",
    "group",
    "resolve_dsn",
]
