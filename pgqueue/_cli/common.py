"""Shared CLI plumbing: the resolved DSN, opening an App, the printing layer's names.

Printing lives in :mod:`pgqueue._cli.output` (data is never markup); the names below are
re-exported so each command module imports one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from .. import _db, _dsn
from .output import console, console_err, emit_json, fail, table, warn

if TYPE_CHECKING:
    from ..app import App

__all__ = ["State", "console", "console_err", "emit_json", "fail", "open_app", "print_json",
           "state", "table"]  # fmt: skip


@dataclass
class State:
    dsn: str | None = None
    debug: bool = False

    def resolve(self, *, embedded: bool = True) -> str:
        return _dsn.resolve_dsn(self.dsn, embedded=embedded)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def checked_dsn(ctx: typer.Context) -> str:
    """The resolved DSN, checked once: reachable, a primary, pgqueue's schema at a
    revision this pgqueue can use. Each failure is a PgQueueError sentence (cli.main
    prints it and picks the exit code); a newer schema only warns."""
    dsn = state(ctx).resolve()
    revision = _db.probe(dsn)
    note = _db.check_revision(revision)
    if note:
        warn(note)
    return dsn


@contextmanager
def open_app(ctx: typer.Context, *, check: bool = True) -> Iterator[App]:
    """An App on the checked DSN (see :func:`checked_dsn`), closed afterwards.
    ``check=False`` (doctor) skips the schema check: diagnosing it is the command's job."""
    from ..app import App

    with App(dsn=checked_dsn(ctx) if check else state(ctx).resolve()) as app:
        yield app


print_json = emit_json
