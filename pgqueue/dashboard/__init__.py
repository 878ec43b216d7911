"""The pgqueue web dashboard (extra ``pgqueue[dashboard]``): ``pgqueue dashboard``.

Server-rendered pages over the same database as the jobs: queues with live depth and
throughput, a job browser, job details with every error, the dead letter, workers,
schedules. Buttons call the same functions as the CLI. Embed it in your own ASGI
app with :func:`create_app`; protect it with an auth hook (:func:`basic_auth`).
"""

from __future__ import annotations

from .app import create_app
from .security import AuthHook, basic_auth, parse_credentials

__all__ = ["AuthHook", "basic_auth", "create_app", "parse_credentials"]
