"""The producer: claims due jobs for the free execution slots and hands them to the
executor.

It claims when something says jobs may be due (its :class:`~.wakeup.Wake`: a NOTIFY, a
freed slot while a limit held jobs back, a written batch, the due-time timer of a
scheduled job or a retry, the safety-net poll) and parks otherwise. While it is parked, a
NOTIFY is claimed for on the notifier's thread and connection (:meth:`Producer.claim_on`).
The claim lock keeps the free slots counted and the jobs claimed for them consistent,
whichever thread claims.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.rows import class_row

from .. import _tracing
from .._durations import parse_rate
from .._sql import query
from ..errors import ConfigurationError
from ..job import JobRow
from . import claims
from .deadline import POOL_BLOCK_DEADLINE_S, WATCHDOG
from .due import DbClock, next_due
from .execution import Execution
from .executor import Executor
from .reporter import Reporter
from .service import Service
from .wakeup import Wake

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("pgqueue.worker")

POLL_INTERVAL_S: Final = 5.0
"""Safety-net poll; LISTEN/NOTIFY wakes idle workers within milliseconds of a commit."""
BATCH_WAIT_S: Final = 0.005
"""With a backlog, how long a claim may wait for half the slots to be free."""
DB_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
"""Back-off between failed claims."""
FIRE_LAG_S: Final = 0.0005
"""A timer set from a scheduled wake-up fires this long after the job's run_at: the clock
estimate (pgqueue/_worker/due.py) may be off by half a round trip, and a claim sent a
hair before run_at comes back short (costing a probe and another claim)."""
UNKNOWN_TASKS: Final = "wait"
"""What a worker does with a claimed job whose task its app does not register: ``wait``
hands it back untouched (attempt refunded) for a worker that knows the task; ``fail``
(the opt-in of releases before 0.2) runs it as an attempt that fails with UnknownTask, so
it goes dead after its attempts. Default of ``ProducerConfig.unknown_tasks``; the
environment variable PGQUEUE_UNKNOWN_TASKS overrides it."""
UNKNOWN_DELAY_MIN_S: Final = 2.0
"""A handed-back job of an unknown task is claimable again after at least this long ..."""
UNKNOWN_DELAY_MAX_S: Final = 30.0
"""... and at most this long (a worker that knows the task runs it within this, plus its
poll interval, of starting) ... The worker that handed it back sets no timer for it (its
next-due probe skips tasks it does not know) and the moment falls between two of its polls
(unknown_handback.sql): it raced the timer of a worker that knows the task ..."""
UNKNOWN_DELAY_GROWTH: Final = 0.1
"""... in between, this share of the job's age: a long wait is looked at less often."""
UNKNOWN_LOG_S: Final = 60.0
"""Each unknown task is logged at WARNING at most once per this many seconds per worker
(DEBUG in between)."""


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """``poll_interval`` (s): the safety-net poll. ``stop_when_idle``: stop once no job is
    due, none is scheduled for later and nothing runs. Raises ConfigurationError."""

    poll_interval: float = POLL_INTERVAL_S
    batch_wait: float = BATCH_WAIT_S
    stop_when_idle: bool = False
    unknown_tasks: str = field(default_factory=lambda: os.environ.get("PGQUEUE_UNKNOWN_TASKS", UNKNOWN_TASKS))
    """``wait`` (default) or ``fail``: see :data:`UNKNOWN_TASKS`."""
    unknown_delay_min: float = UNKNOWN_DELAY_MIN_S
    unknown_delay_max: float = UNKNOWN_DELAY_MAX_S

    def __post_init__(self) -> None:
        for name in ("poll_interval", "batch_wait", "unknown_delay_min", "unknown_delay_max"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
        if self.unknown_delay_min > self.unknown_delay_max:
            raise ConfigurationError(
                f"unknown_delay_min ({self.unknown_delay_min}s) must not exceed "
                f"unknown_delay_max ({self.unknown_delay_max}s)"
            )
        if self.unknown_tasks not in ("wait", "fail"):
            raise ConfigurationError(
                f"unknown_tasks must be 'wait' or 'fail' (PGQUEUE_UNKNOWN_TASKS), got {self.unknown_tasks!r}"
            )


class ClaimedOn(enum.Enum):
    """What :meth:`Producer.claim_on` did with a notifier's connection."""

    CLAIMED = "claimed"
    """Claimed, and the claim came back short: nothing more is due."""
    HANDED_ON = "handed_on"
    """Left (or took over) to the producer's own thread."""
    FAILED = "failed"
    """Failed for a reason other than a lost connection: stop claiming on it."""


@dataclass(frozen=True, slots=True)
class HandbackRow:
    """A row of unknown_handback.sql: a job of an unknown task handed back."""

    id: int
    delay_s: float
    """Seconds until it can be claimed again."""


class Producer(Service):
    """The claim loop of one worker process (:meth:`run` blocks until the stop)."""

    name = "producer"

    def __init__(
        self,
        config: ProducerConfig,
        *,
        app: App,
        worker_id: uuid.UUID,
        queues: tuple[str, ...],
        lease_s: float,
        pool: Any,
        executor: Executor,
        reporter: Reporter,
        wake: Wake,
    ) -> None:
        super().__init__()
        self.config = config
        self.app = app
        self.worker_id = worker_id
        self.queues = queues
        self.wake = wake
        self._pool = pool
        self._executor = executor
        self._reporter = reporter
        self._claim_lock = threading.Lock()
        self._batch_min = wake.batch_min
        rated = [(n, *parse_rate(t.options.rate_limit)) for n, t in app.tasks.items() if t.options.rate_limit]
        self.claimer = claims.Claimer(worker_id, queues, lease_s, rate_tasks=rated)
        self.clock = DbClock()
        """The database's clock, sampled by each probe of the next due time."""
        self.probes = 0
        """Probes of the next due time run so far."""
        self._unknown_logged: dict[str, float] = {}
        self.unknown_handed_back = 0
        """Jobs of tasks this worker does not know, handed back untouched so far."""

    def _interrupt(self) -> None:
        self.wake.stop()

    def quiesce(self) -> None:
        """Wait until a claim under way on another thread has submitted its jobs."""
        with self._claim_lock:
            pass

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.config
        wake = self.wake
        executor = self._executor
        backlog = True  # claim once at start ...
        probe = True  # ... after a look for the next scheduled job
        next_poll = time.monotonic() + cfg.poll_interval
        failures = 0
        while not wake.stopping:
            now = time.monotonic()
            poll_due = now >= next_poll
            timer_due = wake.is_due(now)
            notified, freed = wake.pending()
            probe = wake.take_probe() or probe
            # A limit held due jobs back: a job of ours finishing frees room, claim again.
            freed = freed and (cfg.stop_when_idle or self.claimer.throttled)
            if not (backlog or notified or poll_due or timer_due or freed or probe):
                wake.sleep(next_poll)
                continue
            wake.set_full(True)  # before the check: a slot freed in between still wakes us
            if executor.free_slots() <= 0:
                wake.sleep(None)
                continue
            wake.set_full(False)
            if timer_due:
                wake.clear_due()
            if poll_due:
                next_poll = now + cfg.poll_interval
            probe = probe or poll_due or timer_due
            try:
                # Nothing held before a probe: every retry this worker wrote is committed, so
                # the probe sees it (a write landing after the probe would otherwise let a
                # stop_when_idle worker stop with its own retry still to run).
                held_before = executor.holding
                if probe:
                    # Before the claim, not after: a job that comes due between the two
                    # is the claim's, where after it, it would be neither's (the probe
                    # looks past now(), and firing the timer forgot what it knew).
                    self._schedule_next_due()
                    probe = False
                    probed = True
                else:
                    probed = False
                jobs, free = self._claim_round(backlog)
                short = len(jobs) < free
                if short and cfg.stop_when_idle and not probed:
                    held_before = executor.holding
                    self._schedule_next_due()
                failures = 0
            except psycopg.Error as exc:
                delay = DB_RETRY_S[min(failures, len(DB_RETRY_S) - 1)]
                failures += 1
                log.warning("claim failed (%s); retrying in %ss", exc, delay)
                self._stopping.wait(delay)
                backlog = True
                continue
            finally:
                self._ran()
            backlog = not short
            if cfg.stop_when_idle and short and held_before == 0 and self.idle():
                log.info("no job due or scheduled and none running: stopping (stop_when_idle)")
                break

    def run_once(self) -> float | None:
        """One claim for the free slots (tests); seconds until the next poll."""
        self._claim_round(False)
        return self.config.poll_interval

    def _claim_round(self, backlog: bool) -> tuple[list[JobRow], int]:
        executor = self._executor
        with self._claim_lock:
            free = executor.free_slots()
            if backlog and 0 < free < self._batch_min and executor.busy:
                # More is due but only a few slots are free: wait a moment for more to
                # free up, so one round trip claims a batch, not one job.
                free = executor.wait_free(self._batch_min, self.config.batch_wait)
            self.wake.take()
            return (self._claim(free) if free > 0 else []), free

    def idle(self) -> bool:
        """Nothing held (running or being written) and nothing scheduled."""
        return self._executor.holding == 0 and not self.wake.scheduled

    # --- claims -----------------------------------------------------------------------------
    def _claim(self, free: int, conn: psycopg.Connection[Any] | None = None) -> list[JobRow]:
        """Claim up to ``free`` jobs and submit them; on ``conn`` (the notifier's, bounded
        like a pooled block) or else on a pooled connection. Hold ``_claim_lock``."""
        if conn is None:
            with self._pool.connection() as pooled_conn:
                jobs, traces = self._claim_on(pooled_conn, free)
        else:
            with WATCHDOG.guard(conn, POOL_BLOCK_DEADLINE_S):
                jobs, traces = self._claim_on(conn, free)
        claimer = self.claimer
        self.wake.eager = self.config.stop_when_idle or claimer.throttled
        if claimer.retry_in is not None:
            self.wake.due_in(claimer.retry_in)
        if not jobs:
            return jobs
        tasks = self.app.tasks
        runnable = jobs
        if self.config.unknown_tasks == "wait" and any(row.task not in tasks for row in jobs):
            unknown = [row for row in jobs if row.task not in tasks]
            runnable = [row for row in jobs if row.task in tasks]
            self._hand_back_unknown(unknown, conn)
        # The caller sees every claimed job (the claim was full or short as claimed):
        # a batch of unknown tasks must not make it think nothing more is due.
        if not runnable:
            return jobs
        executions = [Execution(self.app, row, tasks.get(row.task), self.worker_id) for row in runnable]
        if traces:
            for ex in executions:
                ex.trace = traces.get(ex.row.id)
        self._reporter.claimed(executions)
        for ex in executions:
            self._executor.submit(ex)
        return jobs

    def _claim_on(
        self, conn: psycopg.Connection[Any], free: int
    ) -> tuple[list[JobRow], dict[int, dict[str, str]] | None]:
        jobs = self.claimer.claim(conn, free)
        traces = _tracing.fetch(conn, [r.id for r in jobs]) if jobs and _tracing.enabled() else None
        return jobs, traces

    def claim_on(self, conn: psycopg.Connection[Any]) -> ClaimedOn:
        """Claim for a NOTIFY on the notifier's thread and connection while the producer
        is parked (free slots, nothing due). The notifier's server process has just
        delivered the notification, so it is awake, and no thread has to be woken before
        the claim goes out: on a 2-core box shared with Postgres each wake-up can wait
        for a scheduler tick. The producer stays parked when the claim came back short
        (nothing more is due); it takes over when the claim lock is busy, no slot is
        free, the claim was full (more may be due) or failed (it retries, backing off).
        Never raises: a broken connection is the notifier's to replace."""
        result = ClaimedOn.HANDED_ON
        if self._claim_lock.acquire(blocking=False):
            try:
                free = self._executor.free_slots()
                if self.wake.parked and not self.wake.stopping and free > 0:
                    self.wake.take_notified()
                    if len(self._claim(free, conn)) < free:
                        result = ClaimedOn.CLAIMED
            except Exception as exc:  # the notifier's thread must live on whatever happens
                if not (isinstance(exc, psycopg.Error) and conn.broken):  # lost: reconnecting
                    result = ClaimedOn.FAILED
                    log.warning("claims on the listener connection failed (%r); pool claims only", exc)
            finally:
                self._claim_lock.release()
        if result is not ClaimedOn.CLAIMED:
            self.wake.notified()
        return result

    # --- jobs of tasks this worker does not know ---------------------------------------------
    def _hand_back_unknown(self, rows: list[JobRow], conn: psycopg.Connection[Any] | None) -> None:
        """Hand back ``rows`` untouched (attempt refunded), claimable again after a delay
        that grows with their age; a worker that knows their task picks them up. A failed
        hand-back leaves them to the rescue when their lease expires (attempt counted,
        as for any lost worker). Hold ``_claim_lock``."""
        cfg = self.config
        params = {
            "ids": [r.id for r in rows],
            "attempts": [r.attempt for r in rows],
            "worker": self.worker_id,
            "min_s": cfg.unknown_delay_min,
            "max_s": cfg.unknown_delay_max,
            "growth": UNKNOWN_DELAY_GROWTH,
            "offset_s": min(cfg.poll_interval / 2, 2.5),  # between two of its polls: see the SQL
        }
        try:
            if conn is None:
                with self._pool.connection() as pooled_conn:
                    done = _handed_back(pooled_conn, params)
            else:
                with WATCHDOG.guard(conn, POOL_BLOCK_DEADLINE_S):
                    done = _handed_back(conn, params)
        except psycopg.Error as exc:
            log.warning(
                "could not hand back %s job(s) of unknown tasks (%s); their leases will expire",
                len(rows),
                exc,
            )
            return
        delays = {r.id: r.delay_s for r in done}
        self.unknown_handed_back += len(delays)
        now = time.monotonic()
        for row in rows:
            if row.id not in delays:
                continue
            last = self._unknown_logged.get(row.task)
            level = logging.WARNING if last is None or now - last >= UNKNOWN_LOG_S else logging.DEBUG
            if level == logging.WARNING:
                self._unknown_logged[row.task] = now
            log.log(
                level,
                "job %s: task %r is not registered on this worker; handed back untouched "
                "(attempt not counted), claimable again in %.1fs. Start a worker whose app "
                "registers it, or set PGQUEUE_UNKNOWN_TASKS=fail to let such jobs fail",
                row.id, row.task, delays[row.id],
                extra={"job_id": row.id, "task": row.task, "queue": row.queue, "attempt": row.attempt - 1},
            )  # fmt: skip
        self._reporter.unknown(rows, delays)  # no due-time timer: see UNKNOWN_DELAY_MAX_S

    def scheduled(self, run_at: float) -> None:
        """A job of a served queue was inserted for ``run_at`` (database epoch seconds, a
        scheduled wake-up's payload): claim then. No query: the moment is mapped onto
        this process's clock with the clock estimate (a probe instead, without one)."""
        seconds = self.clock.seconds_until(run_at)
        if seconds is None:
            self.wake.want_probe()
        else:
            self.wake.due_in(max(0.0, seconds + FIRE_LAG_S))

    def _schedule_next_due(self) -> None:
        self.probes += 1
        # Only the tasks it can run: a job of a task it does not know is not its work (a timer
        # for it raced a worker that knows the task; it kept stop_when_idle up forever).
        tasks = sorted(self.app.tasks) if self.config.unknown_tasks == "wait" else None
        with self._pool.connection() as conn:
            seconds = next_due(conn, self.queues, self.clock, tasks)
        if seconds is not None:
            self.wake.due_in(seconds + FIRE_LAG_S)


def _handed_back(conn: psycopg.Connection[Any], params: dict[str, Any]) -> list[HandbackRow]:
    cur = conn.cursor(row_factory=class_row(HandbackRow))
    return cur.execute(query("unknown_handback"), params).fetchall()
