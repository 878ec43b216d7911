"""``pgqueue work``: run worker processes for an app's tasks."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from .. import _logging
from ..errors import ConfigurationError
from . import common


def load_app(spec: str) -> object:
    """Import ``module:attribute``; raises ConfigurationError saying what to fix."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"--app must look like 'package.module:app', got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r} for --app: {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r} (--app)") from None
    from ..app import App

    if not isinstance(obj, App):
        raise ConfigurationError(f"--app {spec!r} is a {type(obj).__name__}, not a pgqueue.App")
    return obj


def register(app: typer.Typer) -> None:
    @app.command()
    def work(
        ctx: typer.Context,
        app_spec: str = typer.Option(
            ..., "--app", "-a", envvar="PGQUEUE_APP", help="The pgqueue.App to serve, as module:attribute."
        ),
        queues: str | None = typer.Option(
            None, "--queues", "-q", help="Comma-separated queues (default: every queue of the app's tasks)."
        ),
        concurrency: int = typer.Option(10, "--concurrency", "-c", help="Jobs run at once per process."),
        processes: int = typer.Option(1, "--processes", "-p", help="Worker processes under one supervisor."),
        shutdown_timeout: float = typer.Option(
            30.0, "--shutdown-timeout", help="Seconds running jobs get to finish on SIGTERM/SIGINT."
        ),
        poll_interval: float = typer.Option(5.0, "--poll-interval", help="Safety-net polling, in seconds."),
        lease: float = typer.Option(9.0, "--lease", help="Job lease in seconds (kept alive by heartbeats)."),
        heartbeat_interval: float = typer.Option(
            3.0, "--heartbeat-interval", help="Seconds between heartbeats."
        ),
        rescue_interval: float = typer.Option(
            5.0, "--rescue-interval", help="Seconds between rescue passes."
        ),
        listen: bool = typer.Option(
            True, "--listen/--no-listen", help="LISTEN for wake-ups (off: poll only)."
        ),
        listen_dsn: str | None = typer.Option(
            None,
            "--listen-dsn",
            envvar="PGQUEUE_LISTEN_DSN",
            help="Direct connection for LISTEN (behind a pooler).",
        ),
        log_level: str = typer.Option("INFO", "--log-level", help="DEBUG shows every job state change."),
        log_format: str = typer.Option("text", "--log-format", help="text, or json (one object per line)."),
    ) -> None:
        """Run workers: claim jobs, run them, retry failures, until SIGTERM/SIGINT."""
        _logging.configure_logging(log_level, log_format)
        if processes < 1:
            common.fail("--processes must be >= 1", 2)
        dsn = common.state(ctx).resolve()
        if processes > 1:
            from .._worker.supervisor import Supervisor

            argv = [sys.executable, "-m", "pgqueue.cli", "work", "--processes", "1"]
            for flag, value in (
                ("--app", app_spec),
                ("--queues", queues),
                ("--concurrency", concurrency),
                ("--shutdown-timeout", shutdown_timeout),
                ("--poll-interval", poll_interval),
                ("--lease", lease),
                ("--heartbeat-interval", heartbeat_interval),
                ("--rescue-interval", rescue_interval),
                ("--log-level", log_level),
                ("--log-format", log_format),
            ):
                if value is not None:
                    argv += [flag, str(value)]
            argv.append("--listen" if listen else "--no-listen")
            env = dict(os.environ, PGQUEUE_DSN=dsn)  # never on the command line (ps shows it)
            if listen_dsn:
                env["PGQUEUE_LISTEN_DSN"] = listen_dsn
            raise typer.Exit(Supervisor(argv, processes, env).run())

        from .._worker import Worker
        from .._worker.supervisor import parent_pid_from_env

        worker = Worker(
            load_app(app_spec),  # type: ignore[arg-type]
            dsn=dsn,
            queues=[q.strip() for q in queues.split(",") if q.strip()] if queues else None,
            concurrency=concurrency,
            shutdown_timeout=shutdown_timeout,
            poll_interval=poll_interval,
            lease=lease,
            heartbeat_interval=heartbeat_interval,
            rescue_interval=rescue_interval,
            listen=listen,
            listen_dsn=listen_dsn,
            parent_pid=parent_pid_from_env(),
        )
        worker.run()
