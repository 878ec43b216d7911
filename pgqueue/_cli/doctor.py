"""``pgqueue doctor``: health checks with verdicts and fixes; exit 1 when any is not ok."""

from __future__ import annotations

import typer

from .. import _dsn
from .._admin.doctor import OK, Limits, run_doctor
from .._durations import parse_duration
from . import output
from .common import emit_json, open_app

STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        ctx: typer.Context,
        long_transaction: str = typer.Option(
            "60s", "--long-transaction", help="Flag transactions open longer than this."
        ),
        queue_age: str = typer.Option(
            "5m", "--queue-age", help="Flag queues whose oldest due job waited longer."
        ),
        unrunnable_age: str = typer.Option(
            "5m",
            "--unrunnable-age",
            help="Flag queued jobs older than this that no live worker can run (task not registered).",
        ),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Check the queue tables and the database around them; exit 1 if anything is wrong."""
        limits = Limits(
            long_transaction_s=parse_duration(long_transaction).total_seconds(),
            queue_age_s=parse_duration(queue_age).total_seconds(),
            unrunnable_age_s=parse_duration(unrunnable_age).total_seconds(),
        )
        with open_app(ctx, check=False) as pq:
            checks = run_doctor(pq, limits)
            where = _dsn.redact(pq.dsn)
        healthy = all(c.status == OK for c in checks)
        if as_json:
            emit_json({"database": where, "healthy": healthy, "checks": [c.as_dict() for c in checks]})
        else:
            output.line(f"database: {where}")
            for c in checks:
                output.line((f"{c.status:>4}", STYLE.get(c.status, "white")), "  ", (c.name, "bold"),
                            f": {c.detail}")
                if c.fix:
                    output.line(f"      fix: {c.fix}")
        if not healthy:
            raise typer.Exit(1)
