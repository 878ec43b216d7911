"""The maintenance service: one thread per worker process for the duties that keep the
database in shape, each under the one election helper (:mod:`.election`) when only one
process at a time should do it.

- rescue (:mod:`.rescuer`, elected): jobs of workers that stopped heartbeating go back;
- retention (:func:`pgqueue._admin.prune.run_retention`, elected per batch): finished jobs
  past their retention are pruned;
- cron (:mod:`.cron`, no election: each tick has a unique slot row): periodic schedules
  fire, and tick slots past ``TICK_RETENTION_S`` are pruned (elected);
- history (:func:`pgqueue.dashboard.history.record`, elected per tick): finished jobs
  rolled up per minute and hour, queue depth sampled, so the dashboard's charts have
  history with no dashboard open and no exporter scraped.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._worker.service import Service
from . import election
from .config import HISTORY_OFFSET_S, RETENTION_BACKLOG_S, MaintenanceConfig
from .cron import Scheduler
from .rescuer import RescuedJob, Rescuer

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("pgqueue.worker")

CRON_ERROR_BACKOFF_S: Final = 5.0


@dataclass
class _Duty:
    name: str
    due: float
    fn: Callable[[], float]
    """Does the duty; returns seconds until its next turn."""


class Maintenance(Service):
    """Runs the enabled duties on one thread, each when it is due.

    ``healthy_since()`` is the monotonic time since which this process's heartbeats
    succeed (None: failing); the rescue waits two heartbeat intervals after it, so after
    an outage only the jobs of workers that are really gone are rescued.
    ``on_rescued`` receives the jobs each rescue pass gave back.
    """

    name = "maintenance"

    def __init__(
        self,
        config: MaintenanceConfig,
        *,
        app: App,
        pool: Any,
        worker_id: uuid.UUID,
        heartbeat_interval: float,
        healthy_since: Callable[[], float | None],
        on_rescued: Callable[[Iterable[RescuedJob]], None],
    ) -> None:
        super().__init__()
        self.config = config
        self.app = app
        self.worker_id = worker_id
        self._pool = pool
        self._heartbeat_interval = heartbeat_interval
        self._healthy_since = healthy_since
        self._on_rescued = on_rescued
        self.rescuer = Rescuer()
        self.scheduler: Scheduler | None = None
        now = time.monotonic()
        self._duties: list[_Duty] = []
        if config.rescue:
            self._duties.append(_Duty("rescuer", now, self._rescue))
        if config.retention:
            self._duties.append(_Duty("retention", now + config.retention_interval, self._retention))
        if config.history:
            self._duties.append(_Duty("history", now + self._history_due(), self._history))
        if config.cron and app.schedules:
            self.scheduler = Scheduler(app, pool=pool, owner=worker_id)
            self._duties.append(_Duty("cron", now, self._cron))
            self._duties.append(_Duty("cron ticks", now + config.tick_prune_interval, self._prune_ticks))
        self._synced = False
        self._quiesced = False

    def quiesce(self) -> None:
        """Shutdown has begun: start no more duties (no schedule tick fires from a worker
        that is stopping; the rescue and pruning are other processes' to do). A duty under
        way finishes. Idempotent; :meth:`stop` still ends the thread."""
        self._quiesced = True
        self._interrupt()

    def run_once(self) -> float | None:
        """Every due duty; seconds until the next one is due (None once quiesced)."""
        now = time.monotonic()
        for duty in self._duties:
            if self._quiesced:
                return None
            if duty.due > now:
                continue
            try:
                duty.due = now + duty.fn()
            except Exception as exc:
                log.warning("%s failed: %s", duty.name, exc)
                duty.due = now + self._retry_in(duty)
        if not self._duties:
            return None
        return max(0.0, min(d.due for d in self._duties) - time.monotonic())

    def _retry_in(self, duty: _Duty) -> float:
        if duty.name == "cron":
            return CRON_ERROR_BACKOFF_S
        if duty.name == "rescuer":
            return self.config.rescue_interval
        if duty.name == "history":
            return self._history_due()
        return self.config.retention_interval

    # --- duties -------------------------------------------------------------------------------
    def _rescue(self) -> float:
        # After this process could not reach the database (an outage, a restart), live
        # workers elsewhere could not heartbeat either: their leases look expired. Wait
        # until every live worker had two heartbeats to re-extend them, so only the jobs
        # of workers that are really gone are rescued (no second copy of a running job).
        since = self._healthy_since()
        if since is None or time.monotonic() - since < 2 * self._heartbeat_interval:
            return self.config.rescue_interval
        with self._pool.connection() as conn:
            rescued = self.rescuer.run_once(conn)
            if rescued and self.app.hooks.active and self.app.hooks.wants("job_rescued"):
                rescued = self.rescuer.with_rows(conn, rescued, self.worker_id)
        if rescued:
            self._on_rescued(rescued)
        return self.config.rescue_interval

    def _retention(self) -> float:
        from .._admin.prune import RETENTION_MAX_BATCHES, run_retention

        with self._pool.connection() as conn:
            policy = self.config.retention_policy or self.app.retention
            done = run_retention(conn, policy, max_batches=RETENTION_MAX_BATCHES)
        if done is not None and not done.complete:
            return min(RETENTION_BACKLOG_S, self.config.retention_interval)  # more is due now
        return self.config.retention_interval

    def _history(self) -> float:
        from ..dashboard.history import record

        with self._pool.connection() as conn:
            record(conn)
        return self._history_due()

    def _history_due(self) -> float:
        """Seconds until the next wall-clock multiple of the interval, plus the offset."""
        interval = self.config.history_interval
        return interval - ((time.time() - HISTORY_OFFSET_S) % interval)

    def _cron(self) -> float:
        assert self.scheduler is not None
        if not self._synced:
            self.scheduler.sync()
            self._synced = True
        return self.scheduler.tick()

    def _prune_ticks(self) -> float:
        assert self.scheduler is not None
        with self._pool.connection() as conn, election.leader(conn, "cron-ticks") as elected:
            if elected:
                self.scheduler.prune_ticks_on(conn, self.config.tick_retention)
        return self.config.tick_prune_interval
