"""The dashboard as an ASGI application: :func:`create_app`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import actions, pages
from .history import TICK_S, Recorder
from .queries import Overview, TTLCache
from .security import AuthHook, GuardMiddleware, new_token
from .templating import environment

if TYPE_CHECKING:
    from ..app import App

POLL_S: Final = 2.0
"""How often an open overview page asks for fresh numbers, in seconds."""
STATIC_DIR: Final = Path(__file__).parent / "static"


@dataclass
class DashboardState:
    """What every request handler needs, kept on ``starlette_app.state.dashboard``."""

    pq: App
    read_only: bool
    title: str
    poll_s: float
    env: jinja2.Environment
    overview: Overview
    recorder: Recorder
    history_cache: TTLCache = field(default_factory=TTLCache)
    token: str = field(default_factory=new_token)


def create_app(
    pq: App,
    *,
    read_only: bool = False,
    auth: AuthHook | None = None,
    title: str = "pgqueue",
    poll_s: float = POLL_S,
    history_s: float = TICK_S,
) -> Starlette:
    """The dashboard for ``pq``'s database, ready for any ASGI server.

    ``read_only`` hides every button and refuses every POST (403). ``auth`` is a hook
    ``(request) -> bool`` asked before anything is served (False answers 401, with a
    basic-auth challenge); :func:`pgqueue.dashboard.basic_auth` makes one. Actions
    call the same functions as the CLI (``pgqueue._admin``, ``pgqueue._maintenance.cron``).

    Mount it inside your own ASGI app (``Mount("/pgqueue", create_app(app))``) or run
    it with ``pgqueue dashboard``. The caller owns ``pq`` and closes it.

    While the app runs (its lifespan), a thread records history every ``history_s``
    seconds (:mod:`.history`: finished jobs rolled up, queue depth sampled); 0 turns it
    off (the process serving ``/metrics`` or another dashboard may be doing it).
    """
    state = DashboardState(
        pq=pq,
        read_only=read_only,
        title=title,
        poll_s=poll_s,
        env=environment(),
        overview=Overview(pq),
        recorder=Recorder(pq, history_s),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.recorder.start()
        try:
            yield
        finally:
            await run_in_threadpool(state.recorder.stop)

    routes = [
        *pages.routes(),
        *actions.routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    starlette = Starlette(
        routes=routes,
        middleware=[Middleware(GuardMiddleware, auth=auth, read_only=read_only)],
        exception_handlers=pages.exception_handlers(),
        lifespan=lifespan,
    )
    starlette.state.dashboard = state
    return starlette
