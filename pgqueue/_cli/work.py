"""``pgqueue work``: run worker processes for an app's tasks."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from .. import _logging
from .._admin.prune import parse_retention
from .._settings import Retention
from .._worker.config import default
from .._worker.producer import UNKNOWN_TASKS
from ..errors import ConfigurationError, PgQueueError
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
        concurrency: int = typer.Option(
            default("concurrency"), "--concurrency", "-c", help="Jobs run at once per process."
        ),
        processes: int = typer.Option(1, "--processes", "-p", help="Worker processes under one supervisor."),
        pool: str = typer.Option(
            default("pool"),
            "--pool",
            help="Where sync tasks run: thread, or process (pre-forked children the worker can kill).",
        ),
        pool_size: int | None = typer.Option(
            None, "--pool-size", help="Process pool: children per worker process (default: CPU count)."
        ),
        max_tasks_per_child: int | None = typer.Option(
            None, "--max-tasks-per-child", help="Process pool: replace a child after this many jobs."
        ),
        max_memory_per_child: float | None = typer.Option(
            None, "--max-memory-per-child", help="Process pool: replace a child above this resident MB."
        ),
        shutdown_timeout: float = typer.Option(
            default("shutdown_timeout"),
            "--shutdown-timeout",
            help="Seconds running jobs get to finish on SIGTERM/SIGINT.",
        ),
        poll_interval: float = typer.Option(
            default("poll_interval"), "--poll-interval", help="Safety-net polling, in seconds."
        ),
        lease: float = typer.Option(
            default("lease"), "--lease", help="Job lease in seconds (kept alive by heartbeats)."
        ),
        heartbeat_interval: float = typer.Option(
            default("heartbeat_interval"), "--heartbeat-interval", help="Seconds between heartbeats."
        ),
        rescue_interval: float = typer.Option(
            default("rescue_interval"), "--rescue-interval", help="Seconds between rescue passes."
        ),
        listen: bool = typer.Option(
            default("listen"), "--listen/--no-listen", help="LISTEN for wake-ups (off: poll only)."
        ),
        listen_dsn: str | None = typer.Option(
            None,
            "--listen-dsn",
            envvar="PGQUEUE_LISTEN_DSN",
            help="Direct connection for LISTEN (behind a pooler).",
        ),
        unknown_tasks: str = typer.Option(
            UNKNOWN_TASKS,
            "--unknown-tasks",
            envvar="PGQUEUE_UNKNOWN_TASKS",
            help="A job whose task the app does not register: wait (hand it back untouched "
            "for a worker that knows it) or fail (an attempt that fails with UnknownTask).",
        ),
        retention: str | None = typer.Option(
            None,
            "--retention",
            help="How long finished jobs are kept before this worker's maintenance prunes them: "
            "one age for every finished state (7d, 12h), or per state (succeeded=1d,dead=30d; "
            "'never' keeps a state), or 'off' (this worker does not prune). Default: the "
            "app's retention_*_s settings (succeeded and cancelled 7d, dead 30d).",
        ),
        log_level: str = typer.Option("INFO", "--log-level", help="DEBUG shows every job state change."),
        log_format: str = typer.Option("text", "--log-format", help="text, or json (one object per line)."),
        metrics_port: int | None = typer.Option(
            None,
            "--metrics-port",
            envvar="PGQUEUE_METRICS_PORT",
            help="Serve Prometheus metrics on this port (one endpoint for all --processes).",
        ),
        metrics_host: str = typer.Option(
            "0.0.0.0", "--metrics-host", help="Address the metrics endpoint binds to."
        ),
        metrics_record: bool = typer.Option(
            False, "--metrics-record", hidden=True, help="Record metrics for a supervisor that serves them."
        ),
    ) -> None:
        """Run workers: claim jobs, run them, retry failures, until SIGTERM/SIGINT."""
        _logging.configure_logging(log_level, log_format)
        if processes < 1:
            common.fail("--processes must be >= 1", 2)
        if unknown_tasks not in ("wait", "fail"):
            common.fail(
                f"--unknown-tasks (PGQUEUE_UNKNOWN_TASKS) must be wait or fail, got {unknown_tasks!r}", 2
            )
        prune, policy = _retention(retention)
        dsn = common.state(ctx).resolve()
        if processes > 1:
            from .._worker.supervisor import Supervisor

            argv = [sys.executable, "-m", "pgqueue.cli", "work", "--processes", "1"]
            for flag, value in (
                ("--app", app_spec),
                ("--queues", queues),
                ("--concurrency", concurrency),
                ("--pool", pool),
                ("--pool-size", pool_size),
                ("--max-tasks-per-child", max_tasks_per_child),
                ("--max-memory-per-child", max_memory_per_child),
                ("--shutdown-timeout", shutdown_timeout),
                ("--poll-interval", poll_interval),
                ("--lease", lease),
                ("--heartbeat-interval", heartbeat_interval),
                ("--rescue-interval", rescue_interval),
                ("--unknown-tasks", unknown_tasks),
                ("--retention", retention),
                ("--log-level", log_level),
                ("--log-format", log_format),
            ):
                if value is not None:
                    argv += [flag, str(value)]
            argv.append("--listen" if listen else "--no-listen")
            env = dict(os.environ, PGQUEUE_DSN=dsn)  # never on the command line (ps shows it)
            env.pop("PGQUEUE_METRICS_PORT", None)  # only the supervisor serves
            if listen_dsn:
                env["PGQUEUE_LISTEN_DSN"] = listen_dsn
            if metrics_port is None:
                raise typer.Exit(Supervisor(argv, processes, env, dsn=dsn).run())
            raise typer.Exit(_supervise_with_metrics(argv, processes, env, dsn, metrics_port, metrics_host))

        from .._worker import Worker
        from .._worker.supervisor import parent_pid_from_env, worker_id_from_env

        app = load_app(app_spec)
        if policy is not None and retention is not None:
            policy = _retention_for(retention, app)  # states not named: the app's ages
        worker = Worker(
            app,  # type: ignore[arg-type]
            dsn=dsn,
            queues=[q.strip() for q in queues.split(",") if q.strip()] if queues else None,
            concurrency=concurrency,
            pool=pool,
            pool_size=pool_size,
            max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child=max_memory_per_child,
            shutdown_timeout=shutdown_timeout,
            poll_interval=poll_interval,
            lease=lease,
            heartbeat_interval=heartbeat_interval,
            rescue_interval=rescue_interval,
            retention=prune,
            retention_policy=policy,
            listen=listen,
            listen_dsn=listen_dsn,
            unknown_tasks=unknown_tasks,
            parent_pid=parent_pid_from_env(),
            worker_id=worker_id_from_env(),
            exit_after_run=True,  # the process exits next: sync threads past the timeout end with it
        )
        server = None
        if metrics_port is not None or metrics_record:
            try:
                metrics = worker.app.metrics
                if metrics_port is not None:
                    server = metrics.serve(metrics_port, metrics_host)
            except ConfigurationError as exc:
                common.fail(str(exc), 2)
        try:
            worker.run()
        finally:
            if server is not None:
                server.close()


def _retention(text: str | None) -> tuple[bool, Retention | None]:
    """``--retention``: (whether to prune, the policy or None for the app's); exits with
    a one-sentence error for a bad value."""
    if text is None:
        return True, None
    if text.strip().lower() == "off":
        return False, None
    try:
        return True, parse_retention(text)
    except PgQueueError as exc:
        common.fail(f"--retention: {exc}", 2)
        raise  # not reached: fail() exits


def _retention_for(text: str, app: object) -> Retention:
    """The policy with states the option does not name kept at the app's ages."""
    base = getattr(app, "retention", None)
    return parse_retention(text, base if isinstance(base, Retention) else None)


def _supervise_with_metrics(
    argv: list[str], processes: int, env: dict[str, str], dsn: str, port: int, host: str
) -> int:
    """Run the children recording metrics into a fresh multiprocess directory, and serve
    their sum (plus queue depth) from this process; the directory goes at the end."""
    import shutil
    import tempfile

    from .. import _metrics, _metrics_server
    from .._worker.supervisor import Supervisor

    path = tempfile.mkdtemp(prefix="pgqueue-metrics-")
    try:
        try:
            server, queues = _metrics_server.serve_multiprocess(dsn, port, host, path)
        except ConfigurationError as exc:
            common.fail(str(exc), 2)
        env[_metrics.MULTIPROC_ENV] = path
        supervisor = Supervisor(
            [*argv, "--metrics-record"],
            processes,
            env,
            on_child_exit=lambda pid: _metrics_server.mark_process_dead(pid, path),
            dsn=dsn,
        )
        try:
            return supervisor.run()
        finally:
            server.close()
            queues.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)
