"""``pgqueue stats``: throughput, failure rate and depth per queue."""

from __future__ import annotations

import typer

from .. import _admin
from . import common
from .jobs import emit_json, open_app, table

COLUMNS = ("queue", "queued", "running", "dead", "succeeded_window", "dead_window",
           "throughput_per_s", "failure_rate", "paused")  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command()
    def stats(
        ctx: typer.Context,
        minutes: int = typer.Option(5, "--minutes", help="Window for throughput and failures."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Jobs finished per second and failure rate over the last minutes, depth per queue."""
        with open_app(ctx) as pq:
            data = _admin.stats(pq, minutes)
        if as_json:
            emit_json(data)
            return
        rate = data["failure_rate"]
        common.console.print(
            f"last {minutes} min: {data['throughput_per_s']} jobs/s, "
            f"{data['succeeded_window']} succeeded, {data['dead_window']} dead, "
            f"failure rate {'-' if rate is None else f'{rate:.1%}'}"
        )
        table("per queue", data["queues"], COLUMNS)
