"""``pgqueue schedules ls|enable|disable|run-now``: periodic schedules at runtime."""

from __future__ import annotations

import typer

from .._maintenance import cron
from . import output
from .common import emit_json, open_app

COLUMNS = ("name", "task", "queue", "when", "timezone", "misfire", "enabled", "next_fire_at",
           "last_fire_at")  # fmt: skip
JSON_HELP = "JSON for scripts."


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Periodic schedules (stored in pgqueue.schedules).", no_args_is_help=True)
    app.add_typer(group, name="schedules")

    @group.command("ls")
    def ls(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """List schedules with their next and last fire times."""
        with open_app(ctx) as pq:
            rows = cron.list_schedules(pq)
        if json_out:
            emit_json(rows)
            return
        shown = [{**r, "when": r["cron"] or f"every {r['interval_s']:g}s"} for r in rows]
        output.table(f"{len(rows)} schedules", shown, COLUMNS)

    def _toggle(ctx: typer.Context, name: str, enabled: bool) -> None:
        with open_app(ctx) as pq:
            if not cron.set_enabled(pq, name, enabled):
                output.fail(f"no schedule named {name!r} (see pgqueue schedules ls)")
        output.line(f"{name}: {'enabled' if enabled else 'disabled'}")

    @group.command()
    def enable(ctx: typer.Context, name: str) -> None:
        """Enable a schedule; it fires from its next tick on (no catch-up burst)."""
        _toggle(ctx, name, True)

    @group.command()
    def disable(ctx: typer.Context, name: str) -> None:
        """Disable a schedule without a redeploy."""
        _toggle(ctx, name, False)

    @group.command("run-now")
    def run_now(
        ctx: typer.Context, name: str, json_out: bool = typer.Option(False, "--json", help=JSON_HELP)
    ) -> None:
        """Enqueue the schedule's job right now (outside its ticks)."""
        with open_app(ctx) as pq:
            job_id = cron.run_now(pq, name)
        if job_id is None:
            output.fail(f"no schedule named {name!r} (see pgqueue schedules ls)")
        if json_out:
            emit_json({"schedule": name, "job_id": job_id})
        else:
            output.line(f"enqueued job {job_id} for schedule {name}")
