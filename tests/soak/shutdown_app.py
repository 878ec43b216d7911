"""A 1 s schedule and a task that runs until the test lets it finish (a row in
``release``), for the shutdown test run by a `pgqueue work` subprocess."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg

import pgqueue

app = pgqueue.App()


@app.periodic(interval=timedelta(seconds=1), misfire="skip")
@app.task(name="shutdown.tick", queue="shutdown")
def tick() -> None:
    """Nothing to do: the test counts the ticks."""


@app.task(name="shutdown.hold", queue="shutdown")
def hold() -> None:
    pause = threading.Event()
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM release").fetchone() == (0,):
            pause.wait(0.05)
