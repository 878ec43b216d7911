"""The pgqueue web dashboard (extra ``pgqueue[dashboard]``): ``pgqueue dashboard``.

Server-rendered pages over the same database as the jobs: queues with live depth and
throughput, a job browser, job details with every error, the dead letter, workers,
schedules. Buttons call the same functions as the CLI. Embed it in your own ASGI
app with :func:`create_app`; protect it with an auth hook (:func:`basic_auth`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .security import AuthHook, basic_auth, parse_credentials

# Lazy, so pgqueue.dashboard.history (used by the metrics exporter) imports no Starlette.
_LAZY = {"create_app": "app", "AuthHook": "security", "basic_auth": "security",
         "parse_credentials": "security"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["AuthHook", "basic_auth", "create_app", "parse_credentials"]
