"""Data is never markup: whatever text a job carries, every table and --json gives it back.

The property tests render arbitrary text (brackets, closing tags, Rich styles, ANSI
escapes, control characters) through each table of the CLI and through --json, in
process; the last tests run the real commands on a job whose error is bracketed text.
"""

from __future__ import annotations

import io
import json
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from pgqueue._cli import jobs as jobs_cli
from pgqueue._cli import output, queues, schedules, stats, workers

from .support import cli, cli_json, row, seed

NASTY = [
    "config section [/etc/app] not found",
    "[bold]not bold[/bold]",
    "[/x]",
    "pip install 'pgqueue[dashboard]'",
    "\x1b[31mred\x1b[0m",
    "tab\there\r\nnew\x00line\x07\x7f\x9b",
    ":smile: [link=http://x]y[/link]",
]
TABLES = {
    "jobs ls": jobs_cli.LIST_COLUMNS,
    "queues ls": queues.COLUMNS,
    "workers ls": workers.COLUMNS,
    "stats": stats.COLUMNS,
    "schedules ls": schedules.COLUMNS,
}


def _recorder() -> Console:
    return Console(file=io.StringIO(), width=5000, markup=False, emoji=False, highlight=False)


def _rendered(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
@example("")
@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_prints_any_text_literally(name: str, value: str) -> None:
    columns = TABLES[name]
    out = _recorder()
    output.table(value, [dict.fromkeys(columns, value)], columns, out=out)
    text = _rendered(out)
    shown = output.clean(value)
    assert shown in text
    assert text.count(shown) >= len(columns) + 1 or not shown.strip()
    assert "\x1b" not in text  # no control character ever reaches the terminal
    assert all(output.clean(c) == c for c in text.replace("\n", ""))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_messages_and_tracebacks_print_any_text_literally(value: str) -> None:
    out = _recorder()
    output.line(("error:", "red"), " ", value, out=out)
    output.block(value, out=out)
    text = _rendered(out)
    assert ("error: " + output.clean(value)) in text
    assert output.clean(value, multiline=True) in text
    assert "\x1b" not in text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
def test_json_gives_any_text_back_exactly(value: str, mapping: dict[str, str]) -> None:
    data = [{"task": value, "tags": [value], "args": [value, mapping], "errors": [{"message": value}]}]
    encoded = output.json_text(data)
    assert json.loads(encoded) == data
    assert encoded.isascii()  # ANSI escapes and control characters travel as \u escapes


def test_clean_escapes_control_characters_reversibly_readable() -> None:
    assert output.clean("a\x1b[31mb") == "a\\x1b[31mb"
    assert output.clean("x\ny\tz") == "x\\ny\\tz"
    assert output.clean("x\ny\tz", multiline=True) == "x\ny\\tz"
    assert output.clean("\u2028\x9b") == "\\u2028\\x9b"
    assert output.clean("[bold]plain[/bold]") == "[bold]plain[/bold]"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40))
@example(NASTY[0])
def test_job_show_and_list_from_the_database_any_text(
    conn: psycopg.Connection[Any], dsn: str, value: str
) -> None:
    """Through the real query and the real printing code (in process: a subprocess per
    example would take minutes)."""
    from pgqueue import App, _admin

    conn.execute("DELETE FROM pgqueue.jobs")
    errors = [{"attempt": 1, "at": value, "type": value, "message": value, "traceback": value}]
    (job_id,) = seed(conn, state="dead", task="t.x", last_error=value, errors=json.dumps(errors),
                     args=json.dumps([value]), tags=[value])  # fmt: skip
    with App(dsn=dsn) as app:
        rows = _admin.list_jobs(app)
        details = _admin.job_details(app, job_id)
    out = _recorder()
    output.table("jobs", rows, jobs_cli.LIST_COLUMNS, out=out)
    assert output.clean(value) in _rendered(out)
    assert json.loads(output.json_text(details))["errors"] == errors

    shown = _recorder()
    saved = output.console
    output.console = shown
    try:
        jobs_cli.show_job(details)
    finally:
        output.console = saved
    text = _rendered(shown)
    assert output.clean(value, multiline=True) in text
    assert "\x1b" not in text


@pytest.mark.parametrize("message", [NASTY[0], NASTY[4]])
def test_a_bracketed_error_can_be_listed_shown_retried_and_deleted(
    conn: psycopg.Connection[Any], dsn: str, message: str
) -> None:
    error = [{"attempt": 1, "at": "2026-01-01T00:00:00Z", "type": "FileNotFoundError",
              "message": message, "traceback": f"Traceback\nFileNotFoundError: {message}"}]  # fmt: skip
    (job_id,) = seed(conn, state="dead", last_error=f"FileNotFoundError: {message}",
                     errors=json.dumps(error), tags=[message])  # fmt: skip

    listed = cli(dsn, "jobs", "ls")
    assert listed.returncode == 0, listed.stderr
    assert output.clean(message) in listed.stdout
    assert cli_json(dsn, "jobs", "ls")[0]["last_error"] == f"FileNotFoundError: {message}"

    shown = cli(dsn, "jobs", "show", str(job_id))
    assert shown.returncode == 0, shown.stderr
    assert f"FileNotFoundError: {output.clean(message)}" in shown.stdout
    assert "\x1b" not in shown.stdout
    assert cli_json(dsn, "jobs", "show", str(job_id))["errors"] == error

    assert cli_json(dsn, "jobs", "retry", "--tag", message, "--yes")["done"] == 1
    assert row(conn, job_id)["state"] == "queued"
    assert cli_json(dsn, "jobs", "delete", str(job_id)) == {"deleted": [job_id], "skipped": []}
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (0,)


def test_hints_with_brackets_print_whole() -> None:
    out = _recorder()
    output.line(("error:", "red"), " ", "the dashboard needs its extra: pip install 'pgqueue[dashboard]'",
                out=out)  # fmt: skip
    assert "pip install 'pgqueue[dashboard]'" in _rendered(out)
