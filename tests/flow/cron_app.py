"""An app with a one-second interval schedule, run by `pgqueue work` in the cron tests."""

from __future__ import annotations

from datetime import timedelta

import pgqueue

app = pgqueue.App()


@app.periodic(interval=timedelta(seconds=1), misfire="all")
@app.task(name="tick_task", queue="cron")
def tick_task() -> None:
    """Nothing to do: the test counts the jobs the ticks made."""
