"""The cron service: fires periodic schedules, exactly once per tick.

Every worker may run it; no leader is needed. A tick fires in one transaction that
inserts its slot row (``pgqueue.schedule_ticks``, primary key schedule + fire
time) and its job, so however many schedulers race, one job per tick exists, and
a scheduler dying mid-way leaves either both or neither.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from .._schedule import ScheduleDef, due_ticks, next_fire
from .._sql import query
from .config import TICK_RETENTION_S

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("pgqueue.cron")

RELOAD_S = 30.0
"""Longest sleep between looks at the schedules table (picks up runtime changes)."""
TICK_PRUNE_BATCH: Final = 5000
"""Tick slots deleted per statement while pruning."""
ERROR_BACKOFF_S = 5.0

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NextRow:
    """The row of cron_next.sql."""

    nearest_fire_at: datetime | None
    """The earliest next fire time of the enabled schedules."""
    any_unset: bool | None
    """An enabled schedule has no next fire time yet (newly enabled): due now. None: no
    schedule is enabled."""


def _definition(row: dict[str, Any]) -> ScheduleDef:
    return ScheduleDef(
        name=row["name"],
        task=row["task"],
        queue=row["queue"],
        cron=row["cron"],
        interval=timedelta(seconds=row["interval_s"]) if row["interval_s"] is not None else None,
        timezone=row["timezone"],
        misfire=row["misfire"],
        args=tuple(row["args"]),
        kwargs=dict(row["kwargs"]),
        priority=row["priority"],
    )


class Scheduler:
    """Registers the app's schedules and fires due ticks; ``start()``/``stop()`` run it
    on a daemon thread. ``clock`` is injectable for tests."""

    def __init__(
        self, app: App, *, clock: Clock = _utcnow, pool: Any = None, owner: uuid.UUID | None = None
    ) -> None:
        self.app = app
        self.owner = owner
        """The worker id recorded on the ticks this scheduler fires."""
        self.clock = clock
        # A worker passes its own pool so the scheduler costs it no extra connection.
        self.pool = pool if pool is not None else app.pool
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0

    # --- definitions ------------------------------------------------------------------
    def sync(self) -> None:
        """Upsert every schedule defined on the app (idempotent)."""
        now = self.clock()
        with self.pool.connection() as conn, conn.transaction():
            for sched in self.app.schedules.values():
                conn.execute(
                    query("cron_upsert"),
                    {
                        "name": sched.name,
                        "task": sched.task,
                        "queue": sched.queue,
                        "cron": sched.cron,
                        "interval_s": sched.period_s,
                        "timezone": sched.timezone,
                        "misfire": sched.misfire,
                        "args": Jsonb(list(sched.args)),
                        "kwargs": Jsonb(sched.kwargs),
                        "priority": sched.priority,
                        "next_fire_at": next_fire(sched.trigger(), now),
                    },
                )

    # --- firing -----------------------------------------------------------------------
    def tick(self) -> float:
        """Fire every due tick; return seconds until the next one is due (capped)."""
        now = self.clock()
        with self.pool.connection() as conn, conn.transaction():
            cur = conn.execute(query("cron_due"), {"now": now})
            assert cur.description is not None
            cols = [c.name for c in cur.description]
            for values in cur.fetchall():
                row = dict(zip(cols, values, strict=True))
                self._fire(conn, row, now)
        with self.pool.connection() as conn:
            found = conn.cursor(row_factory=class_row(NextRow)).execute(query("cron_next")).fetchone()
        if found is not None and found.any_unset:
            return 0.0
        if found is None or found.nearest_fire_at is None:
            return RELOAD_S
        wait: float = (found.nearest_fire_at - self.clock()).total_seconds()
        return max(0.0, min(RELOAD_S, wait))

    def _fire(self, conn: Any, row: dict[str, Any], now: datetime) -> None:
        sched = _definition(row)
        if row["next_fire_at"] is None:
            # Newly enabled (or added by SQL): the first tick is the next one from now.
            conn.execute(
                query("cron_advance"),
                {"name": sched.name, "last_fire_at": None,
                 "next_fire_at": next_fire(sched.trigger(), now)},
            )
            return
        fire, following = due_ticks(sched, row["next_fire_at"], now)
        for fire_at in fire:
            slot = {"name": sched.name, "fire_at": fire_at, "fired_by": self.owner}
            if conn.execute(query("cron_claim_tick"), slot).fetchone():
                job = conn.execute(query("cron_fire"), slot).fetchone()
                self.fired += 1
                log.info(
                    "schedule %s fired for %s", sched.name, fire_at.isoformat(),
                    extra={"schedule": sched.name, "job_id": job[0] if job else None},
                )
        skipped = len(fire) == 0
        if skipped:
            log.info("schedule %s skipped missed ticks (misfire=skip)", sched.name)
        conn.execute(
            query("cron_advance"),
            {"name": sched.name, "last_fire_at": fire[-1] if fire else None,
             "next_fire_at": following},
        )

    def prune_ticks(self, keep_s: float | None = None) -> int:
        """Delete tick slots older than ``keep_s`` (default TICK_RETENTION_S), keeping each
        schedule's newest; returns how many."""
        with self.pool.connection() as conn:
            return self.prune_ticks_on(conn, keep_s)

    def prune_ticks_on(self, conn: Any, keep_s: float | None = None) -> int:
        """:meth:`prune_ticks` on ``conn``, in batches of TICK_PRUNE_BATCH rows (one short
        statement each, so a large backlog never holds locks long)."""
        params = {"keep_s": TICK_RETENTION_S if keep_s is None else keep_s, "batch": TICK_PRUNE_BATCH}
        total = 0
        while True:
            deleted: int = conn.execute(query("cron_prune_ticks"), params).rowcount
            total += deleted
            if deleted < TICK_PRUNE_BATCH:
                return total

    # --- service ----------------------------------------------------------------------
    def start(self) -> None:
        """Run sync() then the firing loop on a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pgqueue-cron", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the loop (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        synced = False
        while not self._stop.is_set():
            try:
                if not synced:
                    self.sync()
                    synced = True
                wait = self.tick()
            except Exception:
                log.exception("cron tick failed; retrying in %.0fs", ERROR_BACKOFF_S)
                wait = ERROR_BACKOFF_S
            self._stop.wait(wait)


def run_now(app: App, name: str) -> int | None:
    """Enqueue a schedule's job immediately (not a tick); None for an unknown schedule."""
    with app.pool.connection() as conn:
        found = conn.execute(query("cron_fire"), {"name": name, "fire_at": None}).fetchone()
    return int(found[0]) if found else None


def list_schedules(app: App) -> list[dict[str, Any]]:
    """Every stored schedule with its timing and the job of its latest tick."""
    with app.pool.connection() as conn:
        cur = conn.execute(query("cron_list"))
        assert cur.description is not None
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def set_enabled(app: App, name: str, enabled: bool) -> bool:
    """Enable or disable a schedule at runtime; False when no such schedule exists."""
    with app.pool.connection() as conn:
        found = conn.execute(query("cron_set_enabled"), {"name": name, "enabled": enabled}).fetchone()
    return found is not None

