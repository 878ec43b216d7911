"""``pgqueue schedules ls|enable|disable|run-now``: periodic schedules at runtime."""

from __future__ import annotations

import typer
from rich.table import Table

from .._maintenance import cron
from ..app import App
from . import common


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Periodic schedules (stored in pgqueue.schedules).", no_args_is_help=True)
    app.add_typer(group, name="schedules")

    def _app(ctx: typer.Context) -> App:
        return App(dsn=common.state(ctx).resolve())

    @group.command("ls")
    def ls(ctx: typer.Context, json_out: bool = typer.Option(False, "--json")) -> None:
        """List schedules with their next and last fire times."""
        with _app(ctx) as pq:
            rows = cron.list_schedules(pq)
        if json_out:
            common.print_json(rows)
            return
        table = Table("name", "task", "queue", "when", "tz", "misfire", "enabled", "next", "last")
        for r in rows:
            when = r["cron"] or f"every {r['interval_s']:g}s"
            table.add_row(r["name"], r["task"], r["queue"], when, r["timezone"], r["misfire"],
                          "yes" if r["enabled"] else "no", str(r["next_fire_at"] or "-"),
                          str(r["last_fire_at"] or "-"))
        common.console.print(table)

    def _toggle(ctx: typer.Context, name: str, enabled: bool) -> None:
        with _app(ctx) as pq:
            if not cron.set_enabled(pq, name, enabled):
                common.fail(f"no schedule named {name!r} (see pgqueue schedules ls)")
        common.console.print(f"{name}: {'enabled' if enabled else 'disabled'}")

    @group.command()
    def enable(ctx: typer.Context, name: str) -> None:
        """Enable a schedule; it fires from its next tick on (no catch-up burst)."""
        _toggle(ctx, name, True)

    @group.command()
    def disable(ctx: typer.Context, name: str) -> None:
        """Disable a schedule without a redeploy."""
        _toggle(ctx, name, False)

    @group.command("run-now")
    def run_now(ctx: typer.Context, name: str, json_out: bool = typer.Option(False, "--json")) -> None:
        """Enqueue the schedule's job right now (outside its ticks)."""
        with _app(ctx) as pq:
            job_id = cron.run_now(pq, name)
        if job_id is None:
            common.fail(f"no schedule named {name!r} (see pgqueue schedules ls)")
        if json_out:
            common.print_json({"schedule": name, "job_id": job_id})
        else:
            common.console.print(f"enqueued job {job_id} for schedule {name}")
