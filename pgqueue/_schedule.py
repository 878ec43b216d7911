"""Periodic schedule definitions and their fire times (APScheduler's triggers).

Only APScheduler's trigger classes are used; pgqueue keeps its own store
(``pgqueue.schedules`` and one ``pgqueue.schedule_ticks`` row per fired tick).
Interval schedules are anchored at a fixed epoch, so every scheduler computes the
same fire times and the tick row's primary key de-duplicates them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ._settings import check_name
from .errors import InvalidOption, PgQueueError

Misfire = Literal["skip", "once", "all"]
MISFIRE_POLICIES: tuple[str, ...] = ("skip", "once", "all")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CATCH_UP = 1000
"""misfire="all" fires at most this many missed ticks at once."""
SKIP_GRACE_S = 1.0
SKIP_GRACE_MAX_S = 60.0
"""With misfire="skip", a tick later than its period (clamped to 1..60 s) is skipped."""


class InvalidSchedule(PgQueueError, ValueError):
    """A cron string, time zone, interval or misfire policy cannot be used."""


@dataclass(frozen=True)
class ScheduleDef:
    """One periodic schedule: fire ``task`` on ``cron`` (in ``timezone``) or every ``interval``."""

    name: str
    task: str
    queue: str
    cron: str | None = None
    interval: timedelta | None = None
    timezone: str = "UTC"
    misfire: Misfire = "skip"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    priority: int = 0

    def __post_init__(self) -> None:
        check_name(self.task, "task")
        check_name(self.queue, "queue")
        if not self.name or len(self.name) > 255:
            raise InvalidSchedule("schedule name must be 1 to 255 characters long")
        if (self.cron is None) == (self.interval is None):
            raise InvalidSchedule(f"schedule {self.name!r}: give exactly one of cron= or interval=")
        if self.misfire not in MISFIRE_POLICIES:
            raise InvalidSchedule(
                f"schedule {self.name!r}: misfire must be one of {', '.join(MISFIRE_POLICIES)}, "
                f"got {self.misfire!r}"
            )
        if self.interval is not None and self.interval.total_seconds() <= 0:
            raise InvalidSchedule(f"schedule {self.name!r}: interval must be positive")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(
                f"schedule {self.name!r}: unknown time zone {self.timezone!r} (use an IANA name "
                "such as 'Europe/Paris')"
            ) from None
        self.trigger()  # validates the cron string
        try:
            json.dumps([list(self.args), self.kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidOption(f"schedule {self.name!r}: arguments must be JSON: {exc}") from None

    def trigger(self) -> CronTrigger | IntervalTrigger:
        if self.cron is not None:
            try:
                return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))
            except ValueError as exc:
                raise InvalidSchedule(
                    f"schedule {self.name!r}: bad cron string {self.cron!r}: {exc}"
                ) from None
        assert self.interval is not None
        return IntervalTrigger(seconds=self.interval.total_seconds(), start_date=EPOCH, timezone=UTC)

    @property
    def period_s(self) -> float | None:
        return self.interval.total_seconds() if self.interval is not None else None


def next_fire(trigger: CronTrigger | IntervalTrigger, after: datetime) -> datetime:
    """The first fire time strictly after ``after``."""
    # previous_fire_time=None makes both trigger kinds align to their own grid (cron
    # fields, or the interval's fixed start) from the given moment on.
    nxt = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    if nxt is None:  # pragma: no cover - cron/interval triggers never end
        raise InvalidSchedule("schedule never fires again")
    result: datetime = nxt.astimezone(UTC)
    return result


def due_ticks(
    schedule: ScheduleDef, first_due: datetime, now: datetime
) -> tuple[list[datetime], datetime]:
    """Which ticks to fire now and the next fire time after ``now``.

    ``first_due`` is the stored next fire time (<= now). Missed ticks between it
    and now follow the misfire policy: ``all`` fires each (up to MAX_CATCH_UP),
    ``once`` fires the latest only, ``skip`` fires the latest only if it is not
    late by more than the grace (one period, at least SKIP_GRACE_S).
    """
    trigger = schedule.trigger()
    missed = [first_due.astimezone(UTC)]
    while True:
        nxt = next_fire(trigger, missed[-1])
        if nxt > now:
            break
        missed.append(nxt)
        if len(missed) > MAX_CATCH_UP:
            missed.pop(0)
    if schedule.misfire == "all":
        fire = missed
    elif schedule.misfire == "once":
        fire = missed[-1:]
    else:
        grace = min(SKIP_GRACE_MAX_S, max(SKIP_GRACE_S, schedule.period_s or SKIP_GRACE_MAX_S))
        fire = missed[-1:] if (now - missed[-1]).total_seconds() <= grace else []
    return fire, next_fire(trigger, now)
