"""The ``pgqueue`` command line: parses arguments and delegates; no logic of its own.

Each area's commands live in ``pgqueue/_cli/<area>.py`` and expose
``register(app)``; this module only assembles them. Exit codes: 0 ok, 1 the
checked thing is unhealthy or failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ._cli import common
from .errors import PgQueueError

app = typer.Typer(
    name="pgqueue",
    help="Background jobs that live in your PostgreSQL database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Areas, in the order their commands appear in --help.
AREAS = (
    "migrate", "db", "work", "schedules", "jobs", "queues", "workers", "stats", "prune", "doctor",
    "health", "dashboard", "demo", "bench",
)


@app.callback()
def _root(
    ctx: typer.Context,
    dsn: str | None = typer.Option(
        None, "--dsn", help="Database URL (else PGQUEUE_DSN, DATABASE_URL, or the embedded server)."
    ),
) -> None:
    ctx.obj = common.State(dsn=dsn)


for _area in AREAS:
    importlib.import_module(f"pgqueue._cli.{_area}").register(app)


def main() -> None:
    try:
        app()
    except PgQueueError as exc:
        common.console_err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
