"""``pgqueue prune``: delete finished jobs older than their retention."""

from __future__ import annotations

import typer

from .. import _admin
from . import output
from .common import emit_json, open_app


def register(app: typer.Typer) -> None:
    @app.command()
    def prune(
        ctx: typer.Context,
        older_than: str | None = typer.Option(
            None,
            "--older-than",
            help="Age such as 7d, 12h (default: retention per state, succeeded/cancelled 7d, dead 30d).",
        ),
        state: str = typer.Option(
            "succeeded,cancelled,dead", "--state", help="Comma-separated finished states."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would go."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Delete finished jobs in small batches (never queued or running ones)."""
        age = _admin.parse_duration(older_than) if older_than is not None else None
        states = [s.strip() for s in state.split(",") if s.strip()]
        with open_app(ctx) as pq:
            if dry_run:
                result = _admin.prune(pq, older_than=age, states=states, dry_run=True)
            else:
                planned = _admin.prune(pq, older_than=age, states=states, dry_run=True).total
                with output.progress("prune", planned) as advance:
                    result = _admin.prune(pq, older_than=age, states=states, progress=advance)
        if as_json:
            emit_json(
                {
                    "deleted": result.deleted,
                    "total": result.total,
                    "batches": result.batches,
                    "dry_run": dry_run,
                }
            )
            return
        verb = "would delete" if dry_run else "deleted"
        parts = ", ".join(f"{n} {s}" for s, n in result.deleted.items())
        output.line(f"{verb} {result.total:,} jobs ({parts or 'nothing eligible'})")
