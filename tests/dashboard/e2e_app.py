"""The app the browser test's worker serves (``tests.dashboard.e2e_app:app``)."""

from __future__ import annotations

import os
from pathlib import Path

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN, set by the test


@app.task(name="e2e.flaky", queue="e2e", max_attempts=1)
def flaky(n: int) -> dict[str, object]:
    """Fails while the file named by E2E_FAIL_FLAG exists, then succeeds."""
    if Path(os.environ["E2E_FAIL_FLAG"]).exists():
        raise RuntimeError(f"report {n}: upstream API answered 503")
    return {"n": n, "ok": True}
