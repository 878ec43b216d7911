"""A process that only runs the cron service (used by the multi-scheduler test)."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import timedelta

import pgqueue
from pgqueue._maintenance.cron import Scheduler


def main(dsn: str) -> None:
    app = pgqueue.App(dsn=dsn)

    @app.periodic(interval=timedelta(seconds=1), misfire="all")
    @app.task(name="tick_task")
    def tick_task() -> None: ...

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    scheduler = Scheduler(app)
    scheduler.start()
    print("ready", flush=True)
    done.wait()
    scheduler.stop()
    app.close()


if __name__ == "__main__":
    main(sys.argv[1])
