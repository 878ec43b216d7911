"""``pgqueue workers ls``."""

from __future__ import annotations

import typer

from .. import _admin
from .common import emit_json, open_app, table

COLUMNS = ("id", "hostname", "pid", "status", "queues", "concurrency", "running",
           "heartbeat_age_s", "started_at", "version")  # fmt: skip


def register(app: typer.Typer) -> None:
    workers = typer.Typer(help="Inspect worker processes.", no_args_is_help=True)
    app.add_typer(workers, name="workers")

    @workers.command("ls")
    def ls(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Registered worker processes: alive, stopping, or stale (stopped heartbeating)."""
        with open_app(ctx) as pq:
            rows = _admin.list_workers(pq)
        if as_json:
            emit_json(rows)
        else:
            table(f"{len(rows)} workers", rows, COLUMNS)
