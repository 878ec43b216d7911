"""The public API's types hold: mypy --strict on ``options_and_results.py`` gives exactly the
errors and revealed types its ``# expect:`` / ``# reveal:`` comments name (and nothing else),
so a regression (``configure(**options: Any)``, ``Job.result() -> Any``) fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from pgqueue.task import EnqueueOptions, EnqueueOptionsDict

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("options_and_results.py")
REPORT = re.compile(r"^[^:]+:(\d+): (error|note): (.*?)(?:  \[([\w-]+)\])?$")


def _expected() -> tuple[set[tuple[int, str]], dict[int, str]]:
    errors: set[tuple[int, str]] = set()
    reveals: dict[int, str] = {}
    for number, line in enumerate(CASES.read_text().splitlines(), start=1):
        if (m := re.search(r"# expect: ([\w-]+)$", line)) is not None:
            errors.add((number, m.group(1)))
        if (m := re.search(r"# reveal: ([^`]+)$", line)) is not None:
            reveals[number] = m.group(1)
    return errors, reveals


def test_mypy_refuses_bad_options_and_types_results(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--show-error-codes",
         "--cache-dir", str(tmp_path / "cache"), str(CASES)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    errors: set[tuple[int, str]] = set()
    reveals: dict[int, str] = {}
    for line in result.stdout.splitlines():
        m = REPORT.match(line)
        if m is None:
            continue
        number, kind, message, code = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        if kind == "error":
            errors.add((number, code or "?"))
        elif message.startswith("Revealed type is "):
            reveals[number] = message.removeprefix("Revealed type is ").strip('"')
    want_errors, want_reveals = _expected()
    assert errors == want_errors, result.stdout
    assert reveals == want_reveals, result.stdout


def test_typed_options_match_the_options_dataclass() -> None:
    # One list of enqueue options: the TypedDict type checkers read and the dataclass
    # the code validates must name the same fields.
    assert EnqueueOptionsDict.__optional_keys__ == {f.name for f in fields(EnqueueOptions)}
