"""One async attempt on the executor's event loop, to its outcome."""

from __future__ import annotations

import asyncio
import time

from . import outcome as oc
from .execution import Execution


async def run_async(ex: Execution) -> oc.Outcome | None:
    """Run ``ex`` (an ``async def`` task) under its ``timeout``; its outcome, or None when
    it was cancelled after something else settled it."""
    outcome: oc.Outcome | None = None
    timeout = ex.task.options.timeout if ex.task is not None else None
    try:
        if timeout is None:
            value = await ex.call()
        else:
            value = await asyncio.wait_for(ex.call(), timeout)
        outcome = ex.success(value)
    except asyncio.CancelledError as exc:
        # The worker sets ex.cancel before it cancels the task; otherwise the task raised
        # CancelledError itself, and that is the error to record, with its traceback.
        cause: BaseException = exc
        if ex.cancel.is_set():
            cause = TimeoutError("attempt cancelled by the worker")
        outcome = None if ex.settled else ex.failure(cause)
    except TimeoutError as exc:
        err = exc
        if timeout is not None and time.monotonic() - ex.started >= timeout:
            err = TimeoutError(f"task {ex.row.task!r} exceeded its timeout of {timeout}s")
        outcome = ex.failure(err)
    except BaseException as exc:
        outcome = ex.failure(exc)
    return outcome
