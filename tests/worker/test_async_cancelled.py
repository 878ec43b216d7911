"""An ``async def`` task that raises ``asyncio.CancelledError`` itself fails with that error
(its real type and traceback), not as an attempt the worker cancelled."""

from __future__ import annotations

import asyncio

import psycopg

import pgqueue


def test_a_task_raising_cancelled_error_is_recorded_as_such(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    @app.task(name="t.gives_up", max_attempts=1)
    async def gives_up() -> None:
        await asyncio.sleep(0)
        raise asyncio.CancelledError("the remote side went away")

    job = gives_up.enqueue()
    pgqueue.Worker(app, concurrency=2, stop_when_idle=True, poll_interval=0.2).run()
    row = conn.execute(
        "SELECT state, last_error, errors FROM pgqueue.jobs WHERE id = %s", (job.id,)
    ).fetchone()
    assert row is not None
    state, last_error, errors = row
    assert state == "dead"
    assert "CancelledError" in last_error and "the remote side went away" in last_error
    assert "cancelled by the worker" not in last_error
    assert "CancelledError" in errors[-1]["type"] and "gives_up" in errors[-1]["traceback"]
