"""Scheduled wake-up payloads and the database clock estimate (pgqueue/_worker/due.py)."""

from __future__ import annotations

import pytest

from pgqueue._worker.due import DbClock, parse_wake
from pgqueue._worker.wakeup import Wake


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        ("emails", ("emails", None)),
        ("emails 1764668468.123456", ("emails", 1764668468.123456)),
        ("a.b:c-d 12", ("a.b:c-d", 12.0)),
        ("emails soon", ("emails", None)),  # malformed: claim now rather than never
    ],
)
def test_parse_wake(payload: str, parsed: tuple[str, float | None]) -> None:
    assert parse_wake(payload) == parsed


class Fake:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_quickest_fresh_sample_sets_the_offset() -> None:
    clock = Fake()
    db = DbClock(max_age_s=60.0, clock=clock)
    assert db.offset() is None and db.seconds_until(5.0) is None
    db.sample(5000.0, sent=999.0, received=1000.0)  # round trip 1 s: offset 4000.5
    db.sample(5000.2, sent=999.9, received=1000.0)  # 0.1 s: offset 4000.25
    assert db.offset() == pytest.approx(4000.25)
    assert db.seconds_until(5010.25) == pytest.approx(10.0)
    db.sample(5000.0002, sent=999.9998, received=1000.0)  # 0.4 ms: offset 4000.0002
    assert db.offset() == pytest.approx(4000.0002)
    clock.now += 1.0
    db.sample(5011.0, sent=1000.9995, received=1001.0)  # 0.5 ms, a second newer: it wins
    assert db.offset() == pytest.approx(4010.00025)  # (1 s of age counts as 1 ms)
    clock.now += 61.0  # both expired: unknown again, the caller probes instead
    assert db.offset() is None


def test_a_later_due_time_does_not_wake_the_producer() -> None:
    wake = Wake()
    wake.due_in(10.0)
    wake._event.clear()
    wake.due_in(20.0)
    assert not wake._event.is_set()
    wake.due_in(1.0)
    assert wake._event.is_set()
