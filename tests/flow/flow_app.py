"""Tasks for the workflow tests, run by `pgqueue work` subprocesses."""

from __future__ import annotations

import os
import time

import pgqueue

app = pgqueue.App()


@app.task(name="flow.add")
def add(x: int, y: int = 0) -> int:
    return x + y


@app.task(name="flow.mul", queue="flow.math")
async def mul(x: int, y: int) -> int:
    return x * y


@app.task(name="flow.total")
def total(xs: list[int]) -> dict[str, int]:
    return {"sum": sum(xs), "n": len(xs), "pid": os.getpid()}


@app.task(name="flow.boom", max_attempts=1)
def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


@app.task(name="flow.progress", bind=True)
def progress(ctx: pgqueue.Context, steps: int) -> int:
    for i in range(1, steps + 1):
        ctx.progress(i, steps, message=f"step {i}")
    return steps


@app.task(name="flow.flaky", max_attempts=1)
def flaky(x: int, path: str) -> int:
    """Fails until the file at ``path`` exists (the test "fixes" it by creating it)."""
    if not os.path.exists(path):
        raise RuntimeError(f"not fixed yet: {path}")
    return x


@app.task(name="flow.collect")
def collect(xs: list[int | None]) -> list[int | None]:
    return xs


@app.task(name="flow.on_error")
def on_error(job_id: int, error: str, tag: str) -> dict[str, object]:
    return {"failed": job_id, "error": error, "tag": tag}


@app.task(name="flow.hang", queue="flow.crash", max_attempts=1)
def hang(x: int, path: str) -> int:
    """Runs until the file at ``path`` exists (at most two minutes): a step to kill a worker in."""
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return x
