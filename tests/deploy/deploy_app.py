"""The tasks the deployment tests run in real ``pgqueue work`` processes. Every execution
writes one row to the test database's ``deploy_log`` (job, attempt, host, pid) through the
app's own pool, i.e. through the same DSN (pooler, multi-host list) as the worker."""

from __future__ import annotations

import os
import time

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN names the database (or the pooler in front of it)
HOST = os.environ.get("DEPLOY_TEST_HOST", "?")


@app.task(name="deploy.record", bind=True, max_attempts=25, backoff_base=0.2, backoff_max=2.0)
def record(ctx: pgqueue.Context, n: int, sleep: float = 0.0) -> int:
    if sleep:
        time.sleep(sleep)
    with app.pool.connection() as conn:
        conn.execute(
            "INSERT INTO deploy_log (job_id, attempt, host, pid) VALUES (%s, %s, %s, %s)",
            (ctx.job.id, ctx.attempt, HOST, os.getpid()),
        )
    return n
