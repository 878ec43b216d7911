"""docs/worker.md's option table is held to `pgqueue work` itself: every option the command
takes is in the table, every option the table names exists, and each default the table
gives is the one the command uses (they come from the worker's config fields)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from pgqueue.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "worker.md"
HIDDEN_OR_HELP = {"--help", "--metrics-record"}


def _work() -> Any:
    """The click command behind `pgqueue work`."""
    return typer.main.get_command(app).commands["work"]  # type: ignore[attr-defined]


def _table() -> list[tuple[list[str], list[str]]]:
    """(options named in the first cell, default cell split at " / ") for each table row."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("| option | default | meaning |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("| `-"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        options = re.findall(r"`(--?[a-z][a-z-]*)", cells[0])
        rows.append((options, [d.strip() for d in cells[1].split(" / ")]))
    return rows


def _by_flag() -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for param in _work().params:
        for flag in [*param.opts, *param.secondary_opts]:
            flags[flag] = param
    return flags


def test_every_work_option_is_in_the_table_and_every_row_is_an_option() -> None:
    flags = _by_flag()
    documented = {o for options, _ in _table() for o in options}
    assert documented - flags.keys() == set(), "the table names options `pgqueue work` lacks"
    # A flag pair (--listen/--no-listen) is documented by either half.
    missing = {
        f
        for f, p in flags.items()
        if f not in HIDDEN_OR_HELP and not (set(p.opts) | set(p.secondary_opts)) & documented
    }
    assert missing == set(), f"docs/worker.md's table lacks {sorted(missing)}"


def test_the_defaults_in_the_table_are_the_commands() -> None:
    flags = _by_flag()
    checked = 0
    for options, defaults in _table():
        long_options = [o for o in options if o.startswith("--") and o != "--no-listen"]
        if len(long_options) != len(defaults):
            continue  # one default for a group ("none" for both process-pool limits)
        for option, shown in zip(long_options, defaults, strict=True):
            actual = flags[option].default
            if isinstance(actual, bool) or actual is None or not re.fullmatch(r"[\w.]+", shown):
                continue  # a sentence, an environment variable or "none"
            if isinstance(actual, int | float):
                assert float(shown) == float(actual), (option, shown, actual)
            else:
                assert shown == str(actual), (option, shown, actual)
            checked += 1
    assert checked >= 10, checked
