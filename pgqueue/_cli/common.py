"""Shared CLI plumbing: the resolved DSN, JSON output, error exits."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from rich.console import Console

from .. import _dsn

# Piped output (scripts, tests, logs) gets wide tables instead of Rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
console_err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


@dataclass
class State:
    dsn: str | None = None

    def resolve(self, *, embedded: bool = True) -> str:
        return _dsn.resolve_dsn(self.dsn, embedded=embedded)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    console_err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
