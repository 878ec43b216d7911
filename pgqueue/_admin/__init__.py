"""Operating pgqueue: inspect and act on jobs, queues and workers; retention; doctor.

The CLI (``pgqueue jobs|queues|workers|stats|prune|doctor``), :class:`pgqueue.Job`
methods and ``App.queues`` all delegate here. Every function takes the
:class:`~pgqueue.App` whose pool it uses; nothing here keeps state between calls.
"""

from __future__ import annotations

from .._durations import parse_duration, parse_rate
from .._settings import Retention
from .bulk import BulkResult, run_bulk
from .control import CONTROL_CHANNEL
from .jobs import (
    SCHEDULED,
    CancelOutcome,
    JobFilter,
    cancel_jobs,
    count_jobs,
    job_details,
    list_jobs,
    retry_jobs,
)
from .prune import PruneResult, prune, run_retention
from .queues import Queues
from .stats import stats
from .workers import list_tasks, list_workers

__all__ = [
    "CONTROL_CHANNEL",
    "SCHEDULED",
    "BulkResult",
    "CancelOutcome",
    "JobFilter",
    "PruneResult",
    "Queues",
    "Retention",
    "cancel_jobs",
    "count_jobs",
    "job_details",
    "list_jobs",
    "list_tasks",
    "list_workers",
    "parse_duration",
    "parse_rate",
    "prune",
    "retry_jobs",
    "run_bulk",
    "run_retention",
    "stats",
]
