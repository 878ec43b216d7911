"""The workers' control channel: operator actions that must reach running workers.

Messages are JSON objects on the NOTIFY channel ``pgqueue_control``, sent inside the
transaction that made the change, so workers hear of a change only once it is
committed. Shapes (``action`` first):

- ``{"action": "cancel", "job_id": 12, "worker_id": "<uuid>"}`` — cancel a running job;
  the worker holding it cancels the task and ends the job ``cancelled``.
- ``{"action": "pause" | "resume", "queue": "emails"}``
- ``{"action": "limits", "queue": "emails"}`` — concurrency/rate limits changed.

The database row is the truth (``jobs.cancel_requested_at``, ``queues.paused``); a
worker that missed a message (reconnecting) finds the same facts on its next claim or
heartbeat.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import Connection

from .._settings import CONTROL_CHANNEL, NOTIFY_CHANNEL
from .._sql import query

__all__ = ["CONTROL_CHANNEL", "send", "wake"]


def send(conn: Connection[Any], **message: Any) -> None:
    """Queue one control message in ``conn``'s current transaction."""
    conn.execute(query("admin_control"), {"channel": CONTROL_CHANNEL, "payload": json.dumps(message)})


def wake(conn: Connection[Any], queues: list[str]) -> None:
    """Wake idle workers serving ``queues`` (one notification per distinct queue)."""
    if queues:
        conn.execute(query("admin_wake"), {"channel": NOTIFY_CHANNEL, "queues": sorted(set(queues))})
