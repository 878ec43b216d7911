"""Tasks that fail on purpose, for tests/worker/test_failure_cost.py (served by real
``pgqueue work`` processes as ``tests.worker.failing_app:app``). No back-off, so retried
jobs are due again at once and several workers race for them."""

from __future__ import annotations

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN names the test's database


class Flaky(Exception):
    pass


def _no_backoff(_attempt: int) -> float:
    return 0.0


def _lookup(key: str) -> None:
    raise KeyError(key)


@app.task(name="f.ok", store_result=False)
def ok() -> None:
    return None


@app.task(name="f.once", bind=True, max_attempts=3, backoff=_no_backoff)
def once(ctx: pgqueue.Context) -> int:
    if ctx.attempt == 1:
        try:
            _lookup("first attempt")
        except KeyError as exc:
            raise Flaky("failed on attempt 1") from exc
    return ctx.attempt


@app.task(name="f.always", max_attempts=3, backoff=_no_backoff)
def always() -> None:
    raise Flaky("always fails")


@app.task(name="f.retry_now", bind=True, max_attempts=3)
def retry_now(ctx: pgqueue.Context) -> int:
    # Retry(delay=0): an int delay in the same completion batches as the float delays
    # of the back-off above.
    if ctx.attempt == 1:
        raise pgqueue.Retry(delay=0)
    return ctx.attempt
