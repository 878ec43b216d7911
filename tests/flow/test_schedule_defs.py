"""Schedule definitions and fire-time arithmetic (no database; fixed clocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import pgqueue
from pgqueue._schedule import InvalidSchedule, ScheduleDef, due_ticks, next_fire


def _app() -> pgqueue.App:
    return pgqueue.App(dsn="postgresql://unused/x")


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"cron": "61 * * * *"}, "bad cron string"),
        ({"cron": "* * *"}, "bad cron string"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "* * * * *", "misfire": "sometimes"}, "misfire must be one of"),
        ({}, "exactly one of cron= or interval="),
        ({"cron": "* * * * *", "interval": timedelta(seconds=5)}, "exactly one of"),
        ({"interval": timedelta(seconds=0)}, "interval must be positive"),
    ],
)
def test_bad_definitions_are_refused_at_definition_time(options: dict, fragment: str) -> None:
    app = _app()

    @app.task
    def job() -> None: ...

    with pytest.raises(InvalidSchedule, match=fragment):
        app.periodic(**options)(job)
    assert app.schedules == {}
    assert isinstance(InvalidSchedule("x"), ValueError)


def test_periodic_stacks_on_task_and_keeps_it_callable() -> None:
    app = _app()

    @app.periodic(cron="*/5 * * * *", timezone="Europe/Paris", args=(1,), kwargs={"k": 2})
    @app.task(queue="reports", priority=3)
    def nightly(x: int, k: int) -> int:
        return x + k

    assert nightly(1, k=2) == 3
    sched = app.schedules[nightly.name]
    assert (sched.queue, sched.priority, sched.args, sched.kwargs) == ("reports", 3, (1,), {"k": 2})


def _paris(cron: str, misfire: str = "skip") -> ScheduleDef:
    return ScheduleDef(name="s", task="t", queue="q", cron=cron, timezone="Europe/Paris",
                       misfire=misfire)  # type: ignore[arg-type]


def test_cron_follows_local_time_across_spring_dst_change() -> None:
    # Paris switches from UTC+1 to UTC+2 on 2026-03-29.
    trigger = _paris("0 9 * * *").trigger()
    first = next_fire(trigger, datetime(2026, 3, 27, 12, tzinfo=UTC))
    second = next_fire(trigger, first)
    third = next_fire(trigger, second)
    assert [first, second, third] == [
        datetime(2026, 3, 28, 8, tzinfo=UTC),  # 09:00 CET
        datetime(2026, 3, 29, 7, tzinfo=UTC),  # 09:00 CEST
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ]


def test_cron_follows_local_time_across_autumn_dst_change() -> None:
    # Back to UTC+1 on 2026-10-25.
    trigger = _paris("0 9 * * *").trigger()
    first = next_fire(trigger, datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 8, tzinfo=UTC)
    assert next_fire(trigger, datetime(2026, 10, 23, 12, tzinfo=UTC)) == datetime(
        2026, 10, 24, 7, tzinfo=UTC
    )


def test_nonexistent_local_time_on_spring_day_fires_once_that_day() -> None:
    # 02:30 does not exist in Paris on 2026-03-29; the tick must not be lost or doubled.
    trigger = _paris("30 2 * * *").trigger()
    start = datetime(2026, 3, 28, 12, tzinfo=UTC)
    times = [next_fire(trigger, start)]
    for _ in range(2):
        times.append(next_fire(trigger, times[-1]))
    days = [t.astimezone(trigger.timezone).date().isoformat() for t in times]
    assert days == ["2026-03-29", "2026-03-30", "2026-03-31"]


def _every(seconds: float, misfire: str) -> ScheduleDef:
    return ScheduleDef(name="s", task="t", queue="q", interval=timedelta(seconds=seconds),
                       misfire=misfire)  # type: ignore[arg-type]


T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "misfire, expected_count",
    [("all", 6), ("once", 1), ("skip", 0)],
)
def test_misfire_policies_after_an_outage(misfire: str, expected_count: int) -> None:
    sched = _every(10, misfire)
    now = T0 + timedelta(seconds=55)  # ticks at +0..+50 were missed, +50 is 5 s late
    fire, following = due_ticks(sched, T0, now + timedelta(seconds=0))
    if misfire == "skip":
        # 5 s late is within one period: the latest tick still fires, the rest are skipped
        assert fire == [T0 + timedelta(seconds=50)]
    else:
        assert len(fire) == expected_count
        assert fire[-1] == T0 + timedelta(seconds=50)
    assert following == T0 + timedelta(seconds=60)


def test_skip_drops_a_tick_later_than_its_grace() -> None:
    sched = _every(3600, "skip")
    fire, following = due_ticks(sched, T0, T0 + timedelta(minutes=30))
    assert fire == []
    assert following == T0 + timedelta(hours=1)


def test_on_time_tick_fires_once_under_every_policy() -> None:
    for policy in ("skip", "once", "all"):
        fire, following = due_ticks(_every(10, policy), T0, T0 + timedelta(milliseconds=3))
        assert fire == [T0]
        assert following == T0 + timedelta(seconds=10)
