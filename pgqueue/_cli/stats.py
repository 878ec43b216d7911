"""``pgqueue stats``: throughput, failure rate and depth per queue."""

from __future__ import annotations

import typer

from .. import _admin
from . import output
from .common import emit_json, open_app, table

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
        output.line(
            f"last {minutes} min: {data['throughput_per_s']} jobs/s, "
            f"{data['succeeded_window']} succeeded, {data['dead_window']} dead, "
            f"failure rate {percent(data['failure_rate'])}"
        )
        w = data["workers"]
        output.line(
            f"workers: {w['live']} live, {w['registered']} registered; their totals: "
            f"{w['handed_back']} handed back at shutdown, {w['unknown_handed_back']} handed back "
            f"(task not registered), {w['rescued']} rescued (lease expired); "
            f"{w['expired_leases']} running with an expired lease now"
        )
        rows = [{**q, "failure_rate": percent(q.get("failure_rate"))} for q in data["queues"]]
        table("per queue", rows, COLUMNS)


def percent(rate: float | None) -> str:
    """A 0..1 rate as ``25.0%`` ('-' when there is none)."""
    return "-" if rate is None else f"{rate:.1%}"
