"""Tasks for the metrics tests' subprocess workers (``tests.monitoring.metrics_app:app``)."""

from __future__ import annotations

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN names the test's database


class TransientError(Exception):
    pass


@app.task(name="m.ok")
def ok(n: int) -> int:
    return n


@app.task(name="m.flaky", bind=True, backoff_base=0.05, backoff_jitter=0.0)
def flaky(ctx: pgqueue.Context, n: int) -> int:
    if ctx.attempt == 1:
        raise TransientError(f"attempt {ctx.attempt} of job {n}")
    return n


@app.task(name="m.doomed", max_attempts=1)
def doomed(n: int) -> None:
    raise TransientError(f"job {n} never works")
