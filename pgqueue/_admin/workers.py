"""Listing worker processes and their liveness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from .._sql import query

if TYPE_CHECKING:
    from .._types import AppLike


def list_workers(app: AppLike) -> list[dict[str, Any]]:
    """Rows of ``pgqueue.workers_status``: alive first; status is alive, stopping or stale.

    A stale worker's registration expired without a heartbeat (killed, frozen or cut
    off); its running jobs are handed back by the rescuer of any live worker.
    ``pool`` and ``tasks`` (the task names registered in the worker's app) are what the
    worker recorded in its row; None for a worker of a release before 0.2.
    """
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query("admin_workers_list")).fetchall()
        return rows


def list_tasks(app: AppLike) -> list[dict[str, Any]]:
    """Each task registered by a live worker: ``task``, ``workers`` (how many live
    workers have it), ``hosts`` (their host:pid), ``queues`` (the queues they serve)."""
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query("admin_tasks_list")).fetchall()
        return rows
