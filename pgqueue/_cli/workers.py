"""``pgqueue workers ls`` and ``pgqueue tasks ls``."""

from __future__ import annotations

import typer

from .. import _admin
from .common import emit_json, open_app, table

COLUMNS = ("id", "hostname", "pid", "status", "queues", "concurrency", "pool", "running",
           "heartbeat_age_s", "started_at", "version")  # fmt: skip
TASK_COLUMNS = ("task", "workers", "queues", "hosts")


def register(app: typer.Typer) -> None:
    workers = typer.Typer(help="Inspect worker processes.", no_args_is_help=True)
    app.add_typer(workers, name="workers")

    @workers.command("ls")
    def ls(
        ctx: typer.Context,
        tasks: bool = typer.Option(False, "--tasks", help="Add each worker's registered task names."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts (always with tasks)."),
    ) -> None:
        """Registered worker processes: alive, stopping, or stale (stopped heartbeating);
        their queues, concurrency and pool, and with --tasks the tasks they can run."""
        with open_app(ctx) as pq:
            rows = _admin.list_workers(pq)
        if as_json:
            emit_json(rows)
        else:
            table(f"{len(rows)} workers", rows, (*COLUMNS, "tasks") if tasks else COLUMNS)

    # Tasks are what workers register: the same rows, read per task.
    task_app = typer.Typer(help="Inspect the tasks live workers can run.", no_args_is_help=True)
    app.add_typer(task_app, name="tasks")

    @task_app.command("ls")
    def tasks_ls(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Each task registered by a live worker, how many live workers have it, and the
        queues they serve. A job whose task is missing here waits, attempts untouched."""
        with open_app(ctx) as pq:
            rows = _admin.list_tasks(pq)
        if as_json:
            emit_json(rows)
        else:
            table(f"{len(rows)} tasks", rows, TASK_COLUMNS)
