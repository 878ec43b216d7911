"""Two tasks for trying the compose stack; enqueue from SQL or Python (deploy/README.md)."""

from __future__ import annotations

import socket
import time

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN comes from compose.yaml


@app.task(name="example.add")
def add(a: int, b: int) -> dict[str, object]:
    """Returns the sum and which container ran it (to watch the load spread)."""
    return {"sum": a + b, "host": socket.gethostname()}


@app.task(name="example.slow", timeout=120)
def slow(seconds: float) -> float:
    """Sleeps: shows graceful shutdown (docker compose stop lets it finish)."""
    time.sleep(seconds)
    return seconds
