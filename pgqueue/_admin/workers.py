"""Listing worker processes and their liveness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from .._sql import query

if TYPE_CHECKING:
    from ..app import App


def list_workers(app: App) -> list[dict[str, Any]]:
    """Rows of ``pgqueue.workers_status``: alive first; status is alive, stopping or stale.

    A stale worker's registration expired without a heartbeat (killed, frozen or cut
    off); its running jobs are handed back by the rescuer of any live worker.
    """
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query("admin_workers_list")).fetchall()
        return rows
