"""``pgqueue health [--json] [--worker]``: exit 0 when this process can do its work; for probes."""

from __future__ import annotations

import typer

from .. import _dsn, _embedded, _health
from ..errors import DatabaseNotFound
from . import common, output


def _dsn_for_probe(state: common.State) -> str:
    # A probe must never start the embedded server; it may use one that already runs.
    try:
        return state.resolve(embedded=False)
    except DatabaseNotFound:
        running = _embedded.url() if _embedded.available() else None
        if running is None:
            raise
        return _dsn.normalize(running)


def register(app: typer.Typer) -> None:
    @app.command()
    def health(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
        worker: bool = typer.Option(
            False, "--worker", help="Also require a live worker process registered from this host."
        ),
        hostname: str | None = typer.Option(
            None, "--hostname", help="With --worker: the host to look for (default: this one)."
        ),
        timeout: float = typer.Option(
            _health.STATEMENT_TIMEOUT_S, "--timeout", min=0.1, help="Seconds each probe query may take."
        ),
    ) -> None:
        """Exit 0 when the database answers, is the primary and has a compatible schema.

        Exit 1 otherwise (the reason and the fix are printed), 2 when no database is
        configured. Writes nothing; works through pgbouncer.
        """
        dsn = _dsn_for_probe(common.state(ctx))
        verdict = _health.check(dsn, worker=worker, hostname=hostname, statement_timeout=timeout)
        if as_json:
            common.print_json(verdict.as_dict())
        elif verdict.ok:
            output.line(("healthy", "green"), f": {verdict.detail}")
        else:
            output.line(("unhealthy", "red"), f": {verdict.detail}", err=True)
            if verdict.fix:
                output.line(f"fix: {verdict.fix}", err=True)
        if not verdict.ok:
            raise typer.Exit(1)
