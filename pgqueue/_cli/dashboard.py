"""``pgqueue dashboard``: serve the web dashboard (extra ``pgqueue[dashboard]``)."""

from __future__ import annotations

import ipaddress

import typer

from .. import _logging
from .._settings import install_hint
from ..errors import ConfigurationError
from . import common, output

INSTALL_HINT = f"the dashboard needs its extra: {install_hint('dashboard')}"
LOGGERS = ("pgqueue", "uvicorn", "uvicorn.access")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    @app.command()
    def dashboard(
        ctx: typer.Context,
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Interface to bind (default: this machine only)."
        ),
        port: int = typer.Option(8080, "--port", help="TCP port."),
        read_only: bool = typer.Option(False, "--read-only", help="Hide and refuse every action."),
        auth: str | None = typer.Option(
            None, "--auth", envvar="PGQUEUE_DASHBOARD_AUTH",
            help="Require HTTP basic auth as user:password (env PGQUEUE_DASHBOARD_AUTH keeps it out of ps).",
        ),
        title: str = typer.Option("pgqueue", "--title", help="Shown in the page header."),
        log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
        log_format: str = typer.Option("text", "--log-format", help="text, or json (one object per line)."),
    ) -> None:
        """Serve the web dashboard: queues, jobs, dead letters, workers, schedules."""
        try:
            import uvicorn

            from ..dashboard import basic_auth, create_app, parse_credentials
        except ImportError:
            common.fail(INSTALL_HINT, 2)
        from ..app import App

        try:
            _logging.configure_logging(log_level, log_format, loggers=LOGGERS)
            hook = basic_auth(*parse_credentials(auth)) if auth else None
        except ConfigurationError as exc:
            common.fail(str(exc), 2)
        if not _loopback(host) and hook is None and not read_only:
            output.warn(
                f"serving on {host} without --auth or --read-only: "
                "anyone who reaches this port can retry, cancel and pause"
            )
        dsn = common.checked_dsn(ctx)
        with App(dsn=dsn) as pq:
            web = create_app(pq, read_only=read_only, auth=hook, title=title)
            output.line(f"pgqueue dashboard on http://{host}:{port}/", err=True)
            uvicorn.run(web, host=host, port=port, log_config=None, access_log=True)
