"""Queues as operators see them: list, pause, resume, limits (``app.queues``)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Final

from psycopg.rows import dict_row

from .._durations import parse_rate
from .._settings import check_name
from .._sql import query
from ..errors import InvalidOption
from . import control

if TYPE_CHECKING:
    from .._types import AppLike


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
Rate = str | tuple[int, float]


class Queues:
    """Operations on queues, reached as ``app.queues``.

    Queues need no setup: a queue exists as soon as a job names it; a row in
    ``pgqueue.queues`` (made on first pause or limit) only carries its settings.
    Changes reach every worker at commit through the control channel; the claim reads
    the same row, so they hold even for a worker that missed the message.
    """

    def __init__(self, app: AppLike) -> None:
        self._app = app

    def list(self) -> list[dict[str, Any]]:
        """One row per queue from ``pgqueue.queue_stats`` (ages in seconds)."""
        with self._app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows: list[dict[str, Any]] = cur.execute(query("admin_queues_list")).fetchall()
            return rows

    def get(self, name: str) -> dict[str, Any] | None:
        """The :meth:`list` row of one queue, or None when no job or setting names it."""
        check_name(name, "queue")
        return next((row for row in self.list() if row["queue"] == name), None)

    def pause(self, name: str) -> None:
        """Stop workers from starting jobs of ``name``; running jobs finish normally."""
        self._set_paused(name, True)

    def resume(self, name: str) -> None:
        """Let workers start jobs of ``name`` again, and wake the idle ones."""
        self._set_paused(name, False)

    def _set_paused(self, name: str, paused: bool) -> None:
        check_name(name, "queue")
        with self._app.pool.connection() as conn, conn.transaction():
            conn.execute(query("admin_queue_pause"), {"name": name, "paused": paused})
            control.send(conn, action="pause" if paused else "resume", queue=name)
            if not paused:
                control.wake(conn, [name])

    def set_limits(
        self,
        name: str,
        *,
        concurrency: int | _Keep | None = KEEP,
        rate: Rate | _Keep | None = KEEP,
    ) -> dict[str, Any]:
        """Set (or with ``None`` clear) the queue's global limits; omitted ones are kept.

        ``concurrency``: at most this many jobs of the queue run at once across all
        workers. ``rate``: at most N starts per period across all workers, given as
        ``"10/s"``, ``"600/m"`` or ``(10, 1.0)``. Returns the queue's settings row.
        Raises InvalidOption for a concurrency below 1 or a malformed rate.
        """
        check_name(name, "queue")
        set_concurrency = concurrency is not KEEP
        set_rate = rate is not KEEP
        limit = None if isinstance(concurrency, _Keep) else concurrency
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise InvalidOption(f"concurrency must be an int >= 1 or None, got {limit!r}")
        count: int | None = None
        period: float | None = None
        if isinstance(rate, str):
            count, period = parse_rate(rate)
        elif isinstance(rate, tuple):
            count, period = int(rate[0]), float(rate[1])
            if count < 1 or period <= 0:
                raise InvalidOption(f"rate must allow >= 1 start per period > 0, got {rate!r}")
        params = {
            "name": name,
            "concurrency": limit,
            "rate": count,
            "period": period,
            "set_concurrency": set_concurrency,
            "set_rate": set_rate,
        }
        with self._app.pool.connection() as conn, conn.transaction():
            with conn.cursor(row_factory=dict_row) as cur:
                row: dict[str, Any] | None = cur.execute(query("admin_queue_limits"), params).fetchone()
            control.send(conn, action="limits", queue=name)
        assert row is not None
        return row
