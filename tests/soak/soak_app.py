"""The soak test's app, run by `pgqueue work` subprocesses: steady work with 5 % failing,
a rate-limited queue, chains, and a schedule every second."""

from __future__ import annotations

from datetime import timedelta

import pgqueue

app = pgqueue.App()


@app.periodic(interval=timedelta(seconds=1), misfire="skip")
@app.task(name="soak.tick", queue="soak")
def tick() -> None:
    """Nothing to do: a tick's job and its slot row are what the soak counts."""


@app.task(name="soak.work", queue="soak", max_attempts=2, backoff_base=0.05, backoff_jitter=0.0)
def work(i: int) -> int:
    if i % 20 == 0:
        raise ValueError(f"item {i} fails (5 %)")
    return i


@app.task(name="soak.limited", queue="soak.rl")
def limited(i: int) -> int:
    return i


@app.task(name="soak.paced", queue="soak", rate_limit="100/s")
def paced(i: int) -> int:
    """A per-task rate limit (pgqueue.task_limits, pgqueue.task_starts) under the load."""
    return i
