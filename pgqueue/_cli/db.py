"""``pgqueue db url|start|stop|status``: the embedded server, shared by processes."""

from __future__ import annotations

import typer

from .. import _embedded
from . import common, output


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Manage the embedded PostgreSQL server (.pgqueue/).", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command()
    def start() -> None:
        """Start the embedded server (created on first use) and print its URL."""
        typer.echo(_embedded.start())

    @db.command()
    def stop() -> None:
        """Stop the embedded server."""
        stopped = _embedded.stop()
        output.line("stopped" if stopped else "not running")

    @db.command()
    def url() -> None:
        """Print the embedded server's URL; exit 1 when it is not running."""
        value = _embedded.url()
        if value is None:
            common.fail("the embedded server is not running (pgqueue db start)")
        typer.echo(value)

    @db.command()
    def status() -> None:
        """Say whether the embedded server runs; exit 1 when it does not."""
        value = _embedded.url()
        if value is None:
            output.line(f"not running (data dir {_embedded.home()})")
            raise typer.Exit(1)
        output.line(f"running: {value}")
