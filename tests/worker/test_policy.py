"""The retry policy and worker settings: pure functions, no database."""

from __future__ import annotations

import json
import random

import pytest

from pgqueue import Discard, Retry, Snooze
from pgqueue._worker.config import WorkerConfig
from pgqueue._worker.outcome import Kind, backoff_delay, decide
from pgqueue.errors import ConfigurationError
from pgqueue.task import TaskOptions


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


OPTS = TaskOptions(name="t", queue="default", max_attempts=5, backoff_base=1.0, backoff_max=10.0)


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    rand = random.Random(1)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (30, 10.0)):
        for _ in range(50):
            delay = backoff_delay(OPTS, attempt, rand)
            assert base * 0.75 <= delay <= min(10.0, base * 1.25)


def test_custom_backoff_function_wins() -> None:
    opts = TaskOptions(name="t", queue="q", backoff=lambda attempt: attempt * 7.0)
    assert backoff_delay(opts, 3) == 21.0


def test_decisions() -> None:
    opts = TaskOptions(
        name="t", queue="q", max_attempts=3, retry_on=(Transient,), discard_on=(Permanent,), backoff_jitter=0
    )
    assert decide(Transient("x"), opts, 1, 1, 3).kind is Kind.RETRY
    assert decide(Transient("x"), opts, 1, 3, 3).kind is Kind.DEAD  # out of attempts
    assert decide(KeyError("x"), opts, 1, 1, 3).kind is Kind.DEAD  # retry_on does not cover it
    assert decide(Permanent("x"), opts, 1, 1, 3).kind is Kind.DEAD
    assert decide(Discard("no"), opts, 1, 1, 3).kind is Kind.DEAD
    snooze = decide(Snooze(4), opts, 1, 3, 3)
    assert (snooze.kind, snooze.delay, snooze.refund, snooze.error) == (Kind.SNOOZE, 4, 1, None)
    retry = decide(Retry(delay=2.5, exc=Transient("flaky")), opts, 1, 1, 3)
    assert (retry.kind, retry.delay, retry.refund) == (Kind.RETRY, 2.5, 0)
    entry = json.loads(retry.error or "")
    assert entry["type"].endswith("Transient") and entry["message"] == "flaky" and entry["attempt"] == 1
    assert retry.last_error == "Transient: flaky"
    assert decide(Retry(), opts, 1, 3, 3).kind is Kind.DEAD  # Retry on the last attempt


def test_unknown_task_retries_with_the_default_backoff() -> None:
    outcome = decide(LookupError("unknown"), None, 1, 1, 5)
    assert (outcome.kind, outcome.delay) == (Kind.RETRY, 1.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"concurrency": 0},
        {"concurrency": True},
        {"poll_interval": 0},
        {"lease": float("nan")},
        {"lease": 4.0, "heartbeat_interval": 3.0},
        {"shutdown_timeout": -1},
        {"queues": ()},
    ],
)
def test_worker_config_names_the_bad_field(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as err:
        WorkerConfig(**bad)  # type: ignore[arg-type]
    assert next(iter(bad)) in str(err.value)
