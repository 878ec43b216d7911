"""Typed messages between the worker's services.

Control messages arrive as JSON on the control channel (see :mod:`pgqueue._admin.control`)
and are parsed once, here, into :class:`Cancel` or :class:`QueueChanged`. A batch of
written outcomes travels from the completer as :class:`Written`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from .outcome import Outcome

log = logging.getLogger("pgqueue.worker")


@dataclass(frozen=True, slots=True)
class Cancel:
    """An operator cancelled job ``job_id``: stop it if this worker runs it."""

    job_id: int


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """``queue`` was paused, resumed or had its limits changed: claim again at once."""

    queue: str


Control = Cancel | QueueChanged


@dataclass(frozen=True, slots=True)
class Written:
    """The completer wrote ``batch`` in one statement; ``applied`` holds the ids its fence
    let through (the others were fenced out: this worker no longer held them)."""

    batch: list[Outcome]
    applied: set[int]


def parse_control(payload: str) -> Control | None:
    """The message in a control payload; None (logged when malformed) for anything else."""
    try:
        message = json.loads(payload)
    except ValueError:
        log.warning("ignoring a malformed control message: %.200s", payload)
        return None
    if not isinstance(message, dict):
        return None
    if message.get("action") == "cancel":
        job_id = message.get("job_id")
        return Cancel(job_id) if isinstance(job_id, int) and not isinstance(job_id, bool) else None
    queue = message.get("queue")
    return QueueChanged(queue) if isinstance(queue, str) else None
