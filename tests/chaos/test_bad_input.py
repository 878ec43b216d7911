"""Chaos 11: bad input, fuzzed. Hypothesis-generated queue and task names (quotes, ``;``,
unicode, very long) and argument payloads (deep nesting, huge strings, non-JSON types) go
through the Python API, the CLI and raw SQL. Each is refused with the documented error
before anything is written, or round-trips exactly; nothing is half-written, and a canary
table proves no SQL was built from a name."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import pgqueue
from pgqueue import errors
from pgqueue._settings import NAME_RE, QUEUE_NAME_MAX, TASK_NAME_MAX
from pgqueue.cli import app as cli_app
from tests.chaos.support import pick

pytestmark = pytest.mark.chaos

SETTINGS = settings(
    max_examples=pick(40, 300), deadline=None, suppress_health_check=list(HealthCheck), database=None
)
NASTY = ["'", '"', ";", "--", "\\", "$$", "%s", "{}", "\x00", "é", "名", "🙂", " ", "\n",
         "'; DROP TABLE canary; --"]
names = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9_.:-]{1,40}\Z"),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=5), min_size=1, max_size=6).map("".join),
    st.text(min_size=0, max_size=20),
    st.integers(120, 300).map(lambda n: "q" * n),
)


def valid(name: str, limit: int) -> bool:
    return 0 < len(name) <= limit and NAME_RE.match(name) is not None


def count(conn: psycopg.Connection, table: str = "pgqueue.jobs") -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - constant names
    return int(row[0]) if row else 0


@pytest.fixture
def canary(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("CREATE TABLE canary (x int)")
    conn.execute("INSERT INTO canary VALUES (1)")
    return conn


def test_names_through_the_python_api_and_raw_sql(dsn: str, canary: psycopg.Connection) -> None:
    app = pgqueue.App(dsn=dsn)

    @SETTINGS
    @given(queue=names, task=names)
    def check(queue: str, task: str) -> None:
        before = count(canary)
        ok = valid(queue, QUEUE_NAME_MAX) and valid(task, TASK_NAME_MAX)
        try:
            job = app.enqueue(task, queue=queue)
        except errors.InvalidName as exc:
            assert not ok and isinstance(exc, ValueError) and str(exc)
            assert count(canary) == before
        else:
            assert ok
            assert (job.row.queue, job.row.task) == (queue, task)
        # Raw SQL: the database's CHECK constraints apply the same rule.
        before = count(canary)
        try:
            with canary.transaction():
                row = canary.execute(
                    "INSERT INTO pgqueue.jobs (queue, task) VALUES (%s, %s) RETURNING queue, task",
                    (queue, task),
                ).fetchone()
        except (psycopg.errors.CheckViolation, psycopg.DataError):
            assert not ok
            assert count(canary) == before
        else:
            assert ok and row == (queue, task)
        assert count(canary, "canary") == 1

    try:
        check()
    finally:
        app.close()


def test_names_through_the_cli(dsn: str, canary: psycopg.Connection) -> None:
    runner = CliRunner()

    @settings(SETTINGS, max_examples=pick(25, 150))
    @given(queue=names.filter(lambda n: "\x00" not in n and not n.startswith("-")))
    def check(queue: str) -> None:
        before = count(canary, "pgqueue.queues")
        result = runner.invoke(cli_app, ["--dsn", dsn, "queues", "pause", queue])
        if valid(queue, QUEUE_NAME_MAX):
            assert result.exit_code == 0, result.output
            row = canary.execute("SELECT paused FROM pgqueue.queues WHERE name = %s", (queue,)).fetchone()
            assert row == (True,)
        else:
            # main() turns the error into exit code 2; in-process the error itself surfaces.
            assert isinstance(result.exception, errors.InvalidName), result.output
            assert count(canary, "pgqueue.queues") == before
        assert count(canary, "canary") == 1

    check()


# Text jsonb can hold: no NUL, no lone surrogates (those are refused, see bad_leaf).
json_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    json_text,
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=20,
)


class Opaque:
    pass


bad_leaf = st.one_of(
    st.just(float("nan")), st.just(float("inf")), st.builds(set), st.binary(max_size=3).map(bytes),
    st.builds(Opaque), st.just(1j), st.just("a\x00b"), st.just("\ud800"),
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_payloads_round_trip_or_are_refused(dsn: str, conn: psycopg.Connection) -> None:
    app = pgqueue.App(dsn=dsn)

    @SETTINGS
    @given(good=json_value, bad=bad_leaf, use_bad=st.booleans(), key=st.text(max_size=8))
    def check(good: Any, bad: Any, use_bad: bool, key: str) -> None:
        before = count(conn)
        payload = {"value": good, key: bad} if use_bad else {"value": good}
        if use_bad:
            with pytest.raises((errors.InvalidPayload, TypeError, ValueError)) as refused:
                app.enqueue("t.fuzz", args=[payload], kwargs={"k": good})
            assert isinstance(refused.value, errors.PgQueueError) and str(refused.value)
            assert count(conn) == before
            return
        job = app.enqueue("t.fuzz", args=[payload, good], kwargs={"k": good})
        stored = conn.execute("SELECT args, kwargs FROM pgqueue.jobs WHERE id = %s", (job.id,)).fetchone()
        assert stored == (json.loads(json.dumps([payload, good])), {"k": json.loads(json.dumps(good))})

    try:
        check()
        # The extremes, once each: deep nesting, a huge string, non-string keyword names.
        for bad_args, bad_kwargs, error in (
            ([nested(100_000)], {}, errors.InvalidPayload),
            (["x" * (2 * 1024 * 1024)], {}, errors.PayloadTooLarge),
            ([], {1: "x"}, errors.InvalidPayload),
        ):
            before = count(conn)
            with pytest.raises(error):
                app.enqueue("t.fuzz", args=bad_args, kwargs=bad_kwargs)
            assert count(conn) == before
        deep = nested(200)
        assert app.enqueue("t.fuzz", args=[deep]).row.args == [deep]
        # A bulk enqueue with one bad job writes none of them.
        before = count(conn)
        with pytest.raises(errors.InvalidPayload):
            app.enqueue_many("t.fuzz", [(1,), ({2, 3},), (4,)])
        assert count(conn) == before
    finally:
        app.close()

