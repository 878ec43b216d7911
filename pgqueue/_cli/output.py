"""The CLI's one printing layer: data is always printed as text, never parsed as markup.

Every table, detail view and message of the CLI goes through here. The consoles have
Rich markup, emoji codes and highlighting switched off, and styled output is built
from :class:`rich.text.Text` pieces, so a job error such as ``[/etc/app] not found`` or
a hint such as ``pip install 'pgqueue[dashboard]'`` prints exactly as written.
Control characters in data (ANSI escapes, carriage returns, NUL ...) are shown as
Python-style escapes (``\\x1b``), so data can never drive the terminal. ``--json``
output is plain :func:`json.dumps` (control characters escaped by JSON itself).
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

PIPED_WIDTH = 200
"""Columns of output that is not a terminal (scripts, tests, logs): wide tables, not
Rich's 80-column default."""
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
"""Timestamps in tables (the database's time zone, usually UTC); JSON uses ISO 8601."""


def _console(*, stderr: bool) -> Console:
    # No file: Rich writes to whatever sys.stdout/sys.stderr is at print time.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(
        stderr=stderr,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
    )


console = _console(stderr=False)
console_err = _console(stderr=True)


def markup_console() -> Console:
    """A stdout console that does parse markup, for pgqueue's own fixed texts only
    (the benchmark's and the demo's progress lines), never for data."""
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH, emoji=False, highlight=False)

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: str, *, multiline: bool = False) -> str:
    """``value`` with every control character (C0, DEL, C1, line/paragraph separators)
    shown as a backslash escape; ``multiline`` keeps newlines as they are."""
    if value.isprintable():  # the common case: nothing to do
        return value
    out = []
    for char in value:
        if multiline and char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)


def cell(value: Any) -> str:
    """One value as table text: '-' for None, yes/no, 25.0%-style rates are the caller's,
    timestamps as :data:`TIMESTAMP_FORMAT`, lists comma-joined, JSON for mappings."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime(TIMESTAMP_FORMAT)
    if isinstance(value, timedelta):
        return f"{value.total_seconds():.1f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def text(value: Any, style: str = "", *, multiline: bool = False) -> Text:
    """A data value as Rich text: never markup, control characters escaped."""
    return Text(clean(value if isinstance(value, str) else cell(value), multiline=multiline), style=style)


def table(
    title: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    out: Console | None = None,
) -> None:
    """A Rich table of ``columns`` (keys of each row), every cell as plain text; a cell
    too wide for the terminal folds onto more lines instead of being cut."""
    grid = Table(title=text(title), title_justify="left")
    for column in columns:
        grid.add_column(text(column), overflow="fold")
    for row in rows:
        grid.add_row(*(text(row.get(c)) for c in columns))
    (out or console).print(grid)


def line(*parts: str | tuple[str, str] | Text, err: bool = False, out: Console | None = None) -> None:
    """One line from parts: a ``str`` is data (printed literally), ``(text, style)`` is
    styled data, a Text is printed as is."""
    assembled = Text()
    for part in parts:
        if isinstance(part, Text):
            assembled.append_text(part)
        elif isinstance(part, tuple):
            assembled.append_text(text(part[0], part[1]))
        else:
            assembled.append_text(text(part))
    (out or (console_err if err else console)).print(assembled, soft_wrap=True)


def block(value: str, *, out: Console | None = None) -> None:
    """Multi-line data (a traceback) printed literally, control characters but newlines
    escaped."""
    (out or console).print(text(value, multiline=True), soft_wrap=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def json_text(data: Any) -> str:
    """``data`` as the CLI's JSON: timestamps ISO 8601, durations in seconds, ASCII only
    (so control characters and ANSI escapes travel as ``\\u001b``)."""
    return json.dumps(data, default=_plain, indent=2) + "\n"


def emit_json(data: Any) -> None:
    """JSON on stdout (see :func:`json_text`)."""
    sys.stdout.write(json_text(data))


def error(message: str, *, hint: str = "") -> None:
    """``error: <message>`` on stderr, the message printed literally."""
    line(("error:", "bold red"), " ", message, err=True)
    if hint:
        line(hint, err=True)


def warn(message: str) -> None:
    """``warning: <message>`` on stderr."""
    line(("warning:", "yellow"), " ", message, err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print :func:`error` and end the command with exit ``code``."""
    error(message)
    raise typer.Exit(code)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr for a long operation; yields ``advance(n)``.

    Drawn only when stderr is a terminal (scripts and logs get the final line from the
    command instead); stdout stays clean for ``--json``.
    """
    if not console_err.is_terminal:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    )
    with bar:
        task = bar.add_task(clean(description), total=total)
        yield lambda n: bar.advance(task, n)
