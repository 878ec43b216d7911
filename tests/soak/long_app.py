"""The long soak's app (``make soak``, tests/soak/run.py), run by `pgqueue work` processes.

Every attempt writes one line, ``<job id> <attempt> <task>``, to a file of its process in
``$PGQUEUE_SOAK_RUNLOG`` (the runner checks from them that nothing was lost and nothing
ran twice). Finished jobs are kept two minutes, so that the tables reach their plateau
within the run.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import IO

import pgqueue

KEEP_S = 120.0
app = pgqueue.App(retention_succeeded_s=KEEP_S, retention_cancelled_s=KEEP_S, retention_dead_s=KEEP_S)

_lock = threading.Lock()
_files: dict[int, IO[str]] = {}


def _record(ctx: pgqueue.Context, task: str) -> None:
    folder = os.environ.get("PGQUEUE_SOAK_RUNLOG")
    if not folder:
        return
    line = f"{ctx.job.id} {ctx.attempt} {task}\n"
    with _lock:
        pid = os.getpid()
        out = _files.get(pid)
        if out is None:
            out = _files[pid] = open(os.path.join(folder, f"runs-{pid}.log"), "a", buffering=1)
        out.write(line)


@app.task(name="soak.work", queue="soak", bind=True, max_attempts=2, backoff_base=0.05, backoff_jitter=0.0)
def work(ctx: pgqueue.Context, i: int) -> int:
    _record(ctx, "work")
    if i % 20 == 0:
        raise ValueError(f"item {i} fails (5 %)")
    return i


@app.task(name="soak.step", queue="soak", bind=True)
def step(ctx: pgqueue.Context, i: int) -> int:
    """A workflow step (chains of three; never fails)."""
    _record(ctx, "step")
    return i


@app.task(name="soak.probe", queue="soak.probe", bind=True)
def probe(ctx: pgqueue.Context) -> None:
    """Wake-up latency: the runner reads started_at - created_at of these."""
    _record(ctx, "probe")


@app.periodic(interval=timedelta(seconds=1), misfire="skip")
@app.task(name="soak.tick", queue="soak", bind=True)
def tick(ctx: pgqueue.Context) -> None:
    _record(ctx, "tick")
