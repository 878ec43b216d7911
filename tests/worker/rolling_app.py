"""Two releases of one app, for rolling-deploy tests run by `pgqueue work` subprocesses.

``old`` is the release the workers still run; ``new`` adds ``rolling.added``, which the
new web tier enqueues before the workers are updated.
"""

from __future__ import annotations

import os

import pgqueue

old = pgqueue.App()
new = pgqueue.App()

for _app in (old, new):

    @_app.task(name="rolling.known", queue="rolling")
    def known(x: int) -> int:
        return x + 1


@new.task(name="rolling.added", queue="rolling")
def added(x: int) -> dict[str, int]:
    return {"x": x, "pid": os.getpid()}
