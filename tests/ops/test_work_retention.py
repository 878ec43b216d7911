"""``pgqueue work --retention``: how long this worker's maintenance keeps finished jobs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue._admin.prune import parse_retention
from pgqueue._maintenance.service import Maintenance
from pgqueue._settings import Retention
from pgqueue._worker.config import WorkerConfig
from pgqueue.errors import InvalidOption
from tests.helpers import wait_for

from .support import cli, seed

DAY = timedelta(days=1)


def test_one_age_applies_to_every_finished_state() -> None:
    assert parse_retention("12h") == Retention(*(timedelta(hours=12),) * 3)


def test_states_not_named_keep_the_base_ages() -> None:
    base = Retention(succeeded=2 * DAY, cancelled=3 * DAY, dead=None)
    got = parse_retention("succeeded=1d, dead=30d", base)
    assert got == Retention(succeeded=DAY, cancelled=3 * DAY, dead=30 * DAY)
    assert parse_retention("dead=never").dead is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("3x", "duration '3x' is not understood"),
        ("forever=1d", "retention part 'forever=1d' is not understood"),
        ("succeeded", "duration 'succeeded' is not understood"),
        (" , ", "retention is empty"),
        ("succeeded=-1d", "not understood"),
    ],
)
def test_bad_values_are_refused_with_one_sentence(text: str, says: str) -> None:
    with pytest.raises(InvalidOption, match=says):
        parse_retention(text)


def test_the_cli_refuses_a_bad_value_before_starting(dsn: str) -> None:
    result = cli(dsn, "work", "--app", "tests.worker.tasks_app:app", "--retention", "5 days")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --retention: duration '5 days' is not understood; write a number and a unit, e.g. 30s, 5m, 7d"
    ]


def test_the_worker_prunes_with_its_own_retention(conn: psycopg.Connection[Any], dsn: str) -> None:
    (young,) = seed(conn, state="succeeded", finished_ago="2 hours")
    (old,) = seed(conn, state="succeeded", finished_ago="2 days")
    (dead,) = seed(conn, state="dead", finished_ago="400 days")
    config = WorkerConfig(retention_policy=parse_retention("succeeded=1d,dead=never"))
    maintenance = config.maintenance
    assert maintenance.retention_policy == Retention(succeeded=DAY, cancelled=7 * DAY, dead=None)
    assert not WorkerConfig(retention=False).maintenance.retention  # --retention off
    with pgqueue.App(dsn=dsn) as app:
        service = Maintenance(
            type(maintenance)(
                rescue=False, retention=True, retention_interval=0.05, cron=False,
                retention_policy=maintenance.retention_policy,
            ),
            app=app, pool=app.pool, worker_id=uuid.uuid4(), heartbeat_interval=1.0,
            healthy_since=lambda: None, on_rescued=lambda jobs: None,
        )  # fmt: skip
        service.start()
        try:
            def left() -> set[int]:
                return {r[0] for r in conn.execute("SELECT id FROM pgqueue.jobs")}

            wait_for(lambda: old not in left(), timeout=30)
            assert {young, dead} <= left()  # a day for successes; the dead kept for ever
        finally:
            service.stop()
