"""The command-line examples in docs/operations.md run and print what the page says.

Blocks fenced ```console exec hold ``$ pgqueue ...`` commands, each followed by lines of
its expected output. The commands of the page run in order, as subprocesses, against
one fresh migrated database. Each expected line must match a whole line of the
command's stdout or stderr (stripped), with ``...`` matching anything; a trailing
``# exit N`` gives the exit code the command must end with (default 0).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from .support import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BLOCK = re.compile(r"^```console exec\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXIT = re.compile(r"\s+# exit (\d+)$")


def examples(text: str) -> list[tuple[str, list[str], int]]:
    """(command line, expected lines, exit code) for every ``$`` line of every block."""
    out: list[tuple[str, list[str], int]] = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], [], 0))
            elif line.strip():
                command, expected, code = out[-1]
                found = EXIT.search(line)
                if found:
                    code, line = int(found.group(1)), line[: found.start()]
                out[-1] = (command, [*expected, line.strip()], code)
    return out


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("...")))


def test_operations_doc_console_examples_run_and_print_what_they_say(dsn: str) -> None:
    cases = examples(DOC.read_text())
    assert len(cases) >= 10
    for command, expected, code in cases:
        argv = shlex.split(command)
        assert argv[0] == "pgqueue", command
        done = cli(dsn, *argv[1:])
        assert done.returncode == code, (command, done.returncode, done.stdout, done.stderr)
        printed = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines()]
        for line in expected:
            pattern = _pattern(line)
            assert any(pattern.fullmatch(p) for p in printed), (command, line, done.stdout, done.stderr)
