"""The dashboard as an ASGI application: :func:`create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import actions, pages
from .queries import Overview
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
    token: str = field(default_factory=new_token)


def create_app(
    pq: App,
    *,
    read_only: bool = False,
    auth: AuthHook | None = None,
    title: str = "pgqueue",
    poll_s: float = POLL_S,
) -> Starlette:
    """The dashboard for ``pq``'s database, ready for any ASGI server.

    ``read_only`` hides every button and refuses every POST (403). ``auth`` is a hook
    ``(request) -> bool`` asked before anything is served (False answers 401, with a
    basic-auth challenge); :func:`pgqueue.dashboard.basic_auth` makes one. Actions
    call the same functions as the CLI (``pgqueue._admin``, ``pgqueue._maintenance.cron``).

    Mount it inside your own ASGI app (``Mount("/pgqueue", create_app(app))``) or run
    it with ``pgqueue dashboard``. The caller owns ``pq`` and closes it.
    """
    state = DashboardState(
        pq=pq,
        read_only=read_only,
        title=title,
        poll_s=poll_s,
        env=environment(),
        overview=Overview(pq),
    )
    routes = [
        *pages.routes(),
        *actions.routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    starlette = Starlette(
        routes=routes,
        middleware=[Middleware(GuardMiddleware, auth=auth, read_only=read_only)],
        exception_handlers=pages.exception_handlers(),
    )
    starlette.state.dashboard = state
    return starlette
