"""The ``pgqueue`` command line: parses arguments and delegates; no logic of its own.

Each area's commands live in ``pgqueue/_cli/<area>.py`` and expose
``register(app)``; this module only assembles them and turns errors into exit codes.

Exit codes: 0 ok; 1 the checked thing is unhealthy, missing or failed; 2 bad usage or
configuration (including a malformed DSN); 3 the database cannot be reached or used
(server down, wrong port or host, database missing, authentication refused, read-only
standby); 4 pgqueue's schema is missing or older than this pgqueue (run ``pgqueue
migrate``); 130 interrupted. Every failure is one sentence on stderr; ``--debug`` adds
the traceback.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import psycopg
import typer

from ._cli import common, output
from .errors import DatabaseUnavailable, PgQueueError, SchemaOutOfDate

EXIT_UNAVAILABLE = 3
EXIT_SCHEMA = 4
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="pgqueue",
    help="Background jobs that live in your PostgreSQL database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Areas, in the order their commands appear in --help.
AREAS = (
    "migrate", "db", "work", "schedules", "jobs", "queues", "workers", "stats", "prune", "doctor",
    "health", "dashboard", "demo", "bench",
)


def _version(value: bool) -> None:
    if value:
        from ._version import __version__

        sys.stdout.write(f"pgqueue {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    dsn: str | None = typer.Option(
        None, "--dsn", help="Database URL (else PGQUEUE_DSN, DATABASE_URL, or the embedded server)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of a failure."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print pgqueue's version and exit."
    ),
) -> None:
    ctx.obj = common.State(dsn=dsn, debug=debug)
    _DEBUG[0] = debug


_DEBUG = [False]
"""--debug as parsed (read by main() after Typer has returned or raised)."""


for _area in AREAS:
    importlib.import_module(f"pgqueue._cli.{_area}").register(app)


def exit_code(exc: BaseException) -> int:
    """The documented exit code of a failure (see the module docstring)."""
    if isinstance(exc, SchemaOutOfDate):
        return EXIT_SCHEMA
    if isinstance(exc, DatabaseUnavailable | psycopg.OperationalError | psycopg.errors.ReadOnlySqlTransaction):  # noqa: E501
        return EXIT_UNAVAILABLE
    if isinstance(exc, PgQueueError):
        return 2
    return 1


def describe(exc: BaseException) -> str:
    """One sentence for a failure that escaped a command."""
    if isinstance(exc, PgQueueError):
        return str(exc)
    if isinstance(exc, psycopg.Error):
        from . import _db

        found = _db.translate("", exc) if isinstance(exc, _db.READ_ONLY_ERRORS) else exc
        if found is not exc:
            return str(found)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, psycopg.OperationalError):
            return f"the database connection failed: {first}"
        return f"the database refused the command: {first}"
    return f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        output.error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if _DEBUG[0]:
            output.console_err.print(output.text(traceback.format_exc(), multiline=True))
        output.error(describe(exc))
        sys.exit(exit_code(exc))


if __name__ == "__main__":  # pragma: no cover
    main()
