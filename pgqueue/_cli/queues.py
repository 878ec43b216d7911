"""``pgqueue queues ls|pause|resume|set|purge``."""

from __future__ import annotations

import typer

from .._admin.queues import KEEP
from .._durations import format_rate, parse_rate
from ..errors import InvalidOption
from . import bulk, common, output
from .common import emit_json, open_app, table

COLUMNS = (
    "queue", "queued", "scheduled", "waiting", "running", "succeeded", "dead", "cancelled",
    "oldest_queued_age_s", "paused", "concurrency_limit", "rate",
)  # fmt: skip


def _limit(text: str | None) -> int | None:
    if text is None or text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidOption(f"--concurrency must be a whole number or 'none', got {text!r}") from None


def register(app: typer.Typer) -> None:
    queues = typer.Typer(help="Inspect and control queues.", no_args_is_help=True)
    app.add_typer(queues, name="queues")

    @queues.command("ls")
    def ls(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Every queue: depth, running, finished counts, oldest due job, pause and limits."""
        with open_app(ctx) as pq:
            rows = pq.queues.list()
        if as_json:
            emit_json(rows)
            return
        for row in rows:
            row["rate"] = format_rate(row["rate_limit"], row["rate_period_s"])
        table(f"{len(rows)} queues", rows, COLUMNS)
        if any(r["succeeded_estimated"] for r in rows):
            output.line("succeeded: estimated from a sample (large table)")

    @queues.command("pause")
    def pause(ctx: typer.Context, name: str = typer.Argument(..., help="Queue name.")) -> None:
        """Stop starting jobs of a queue on every worker (running jobs finish)."""
        with open_app(ctx) as pq:
            pq.queues.pause(name)
        output.line(f"paused {name}")

    @queues.command("resume")
    def resume(ctx: typer.Context, name: str = typer.Argument(..., help="Queue name.")) -> None:
        """Start jobs of a paused queue again."""
        with open_app(ctx) as pq:
            pq.queues.resume(name)
        output.line(f"resumed {name}")

    @queues.command("set")
    def set_(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Queue name."),
        concurrency: str | None = typer.Option(
            None, "--concurrency", help="At most N running at once across all workers; 'none' clears."
        ),
        rate: str | None = typer.Option(
            None, "--rate", help="At most N starts per period: 10/s, 600/m; 'none' clears."
        ),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Set a queue's global limits (enforced in the database for all workers)."""
        if concurrency is None and rate is None:
            common.fail("give --concurrency and/or --rate", 2)
        if rate is not None and rate.lower() != "none":
            parse_rate(rate)  # refuse a malformed rate before connecting
        with open_app(ctx) as pq:
            row = pq.queues.set_limits(
                name,
                concurrency=KEEP if concurrency is None else _limit(concurrency),
                rate=KEEP if rate is None else (None if rate.lower() == "none" else rate),
            )
        if as_json:
            emit_json(row)
        else:
            output.line(
                f"{name}: concurrency {row['concurrency_limit'] or '-'}, "
                f"rate {format_rate(row['rate_limit'], row['rate_period_s'])}"
            )

    @queues.command("purge")
    def purge(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Queue name."),
        delete: bool = typer.Option(
            False, "--delete", help="Delete the pending jobs instead of cancelling them."
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Cancel (or with --delete, delete) every pending job of a queue: queued, scheduled
        and waiting ones (--delete: queued and scheduled). Running jobs are left alone."""
        from .._admin import JobFilter

        where = JobFilter(queue=name)
        action, states = ("delete", ["queued"]) if delete else ("cancel", ["queued", "waiting"])
        bulk.by_filter(ctx, action, where, states, yes=yes, as_json=as_json,
                       what=f"pending jobs of queue {name}")
