"""The tasks ``pgqueue bench`` runs (served by real ``pgqueue work`` processes as
``pgqueue._bench.tasks:app``; the database comes from ``PGQUEUE_DSN``)."""

from __future__ import annotations

import time

import pgqueue

QUEUE = "bench"
APP_SPEC = "pgqueue._bench.tasks:app"


class Flaky(Exception):
    """Raised on purpose by the retry scenario's tasks."""


def _no_backoff(_attempt: int) -> float:
    return 0.0


def register(app: pgqueue.App) -> pgqueue.App:
    """Register the bench tasks on ``app`` (all on queue ``bench``) and return it."""

    @app.task(name="bench.noop", queue=QUEUE, store_result=False)
    def noop() -> None:
        return None

    @app.task(name="bench.stamp", queue=QUEUE)
    def stamp() -> float:
        # Same host as the database and the producer: time.time() is the shared clock.
        return time.time()

    @app.task(name="bench.astamp", queue=QUEUE)
    async def astamp() -> float:
        return time.time()

    @app.task(name="bench.tx_insert", queue=QUEUE, store_result=False, bind=True, transactional=True)
    def tx_insert(ctx: pgqueue.Context) -> None:
        # One business row, committed with the job's success (bench_effects.sql makes the table).
        ctx.conn.execute("INSERT INTO bench_effects (job_id) VALUES (%s)", (ctx.job.id,))

    @app.task(name="bench.fail_once", queue=QUEUE, store_result=False, bind=True, backoff=_no_backoff)
    def fail_once(ctx: pgqueue.Context) -> None:
        if ctx.attempt == 1:
            raise Flaky("first attempt fails")

    @app.task(name="bench.fail_always", queue=QUEUE, max_attempts=3, backoff=_no_backoff)
    def fail_always() -> None:
        raise Flaky("always fails")

    return app


app = register(pgqueue.App())
