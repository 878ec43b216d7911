"""``pgqueue migrate``: Alembic upgrade/downgrade of pgqueue's own schema."""

from __future__ import annotations

import sys

import typer

from . import common, output


def register(app: typer.Typer) -> None:
    @app.command()
    def migrate(
        ctx: typer.Context,
        to: str = typer.Option("head", "--to", help="Target revision: head, base, or an id."),
        sql: bool = typer.Option(
            False, "--sql", help="Print the SQL instead of running it (no connection needed)."
        ),
        from_rev: str | None = typer.Option(
            None, "--from", help="With --sql: the revision the database is at now."
        ),
    ) -> None:
        """Bring the pgqueue schema to a revision (default: the newest)."""
        from .. import _migrate  # alembic is heavy; only this command needs it

        if sql:
            sys.stdout.write(_migrate.sql(to, start=from_rev))
            return
        from .. import _db

        dsn = common.state(ctx).resolve()
        _db.probe(dsn, schema=False)  # one sentence for a database it cannot use, not a traceback
        before = _migrate.current(dsn)
        _migrate.upgrade(dsn, to)
        after = _migrate.current(dsn) if to != "base" else None
        output.line(f"pgqueue schema: {before or 'none'} -> {after or 'none'}")
