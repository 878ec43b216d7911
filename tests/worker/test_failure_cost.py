"""Failed attempts, written cheaply without losing what users need.

The stored error keeps the exception's type, message, frames (file, line, function,
source line) and its cause/context chain, within a size cap; a completion batch
holding every outcome kind is written by one fenced statement; real worker processes
racing for retried jobs end with exact counts. Nothing here is timed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import traceback
import uuid
from typing import Any

import psycopg

from pgqueue._worker import outcome as oc
from pgqueue._worker.completer import write_batch
from tests.helpers import wait_for
from tests.worker.conftest import Workers, insert_jobs

CARETS = re.compile(r"^[ \t]*[\^~]+[ \t]*\n", re.MULTILINE)


def _stock_without_carets(exc: BaseException) -> str:
    """What Python itself prints, minus the lines that only hold ^^^ / ~~~ markers."""
    return CARETS.sub("", "".join(traceback.format_exception(exc)))


def _caught(fn: Any) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


def _parse(key: str) -> int:
    return {"a": 1}[key]


def _load(key: str) -> int:
    try:
        return _parse(key)
    except KeyError as exc:
        raise ValueError(f"cannot load {key!r}") from exc


def _quiet() -> int:
    try:
        return _load("quiet")
    except ValueError:
        raise RuntimeError("while handling the load error") from None


def _implicit() -> None:
    try:
        _parse("missing")
    except KeyError:
        raise OSError("cleanup failed")  # noqa: B904 - the implicit context is the point


def _recurse(n: int) -> int:
    return _recurse(n + 1)


# --- the stored error -----------------------------------------------------------------------
def test_error_entry_keeps_type_message_frames_and_chain() -> None:
    exc = _caught(lambda: _load("b"))
    entry_json, last_error = oc.error_entry(exc, 2)
    entry = json.loads(entry_json)
    assert entry["attempt"] == 2
    assert entry["type"] == "ValueError"
    assert entry["message"] == "cannot load 'b'"
    assert last_error == "ValueError: cannot load 'b'"
    tb = entry["traceback"]
    # Same text as Python's own traceback, only without the caret lines.
    assert tb == _stock_without_carets(exc)
    assert not CARETS.search(tb)
    # Both exceptions of the chain, cause first, each with its frames and source lines.
    cause_at = tb.index("KeyError: 'b'")
    assert tb.index("The above exception was the direct cause of the following exception:") > cause_at
    assert tb.rstrip().endswith("ValueError: cannot load 'b'")
    assert f'File "{__file__}"' in tb
    assert 'in _parse\n    return {"a": 1}[key]\n' in tb
    assert "in _load\n    return _parse(key)\n" in tb


def test_context_chain_and_suppressed_context() -> None:
    implicit = _caught(_implicit)
    tb = oc.format_traceback(implicit)
    assert "During handling of the above exception, another exception occurred:" in tb
    assert tb.index("KeyError: 'missing'") < tb.index("OSError: cleanup failed")
    assert tb == _stock_without_carets(implicit)

    quiet = _caught(_quiet)  # raise ... from None hides the chain
    tb = oc.format_traceback(quiet)
    assert "ValueError" not in tb and "KeyError" not in tb
    assert tb.rstrip().endswith("RuntimeError: while handling the load error")


def test_notes_groups_and_broken_str_are_still_reported() -> None:
    noted = ValueError("with a note")
    noted.add_note("extra context")
    tb = oc.format_traceback(_caught(lambda: (_ for _ in ()).throw(noted)))
    assert tb.rstrip().endswith("ValueError: with a note\nextra context")

    group = _caught(lambda: (_ for _ in ()).throw(ExceptionGroup("two", [KeyError("k"), OSError("o")])))
    tb = oc.format_traceback(group)
    assert "ExceptionGroup: two (2 sub-exceptions)" in tb and "KeyError: 'k'" in tb and "OSError: o" in tb

    class BadStr(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    entry_json, last_error = oc.error_entry(_caught(lambda: (_ for _ in ()).throw(BadStr())), 1)
    entry = json.loads(entry_json)
    assert entry["message"] == "<exception str() failed>"
    assert last_error == "BadStr: <exception str() failed>"
    assert "BadStr" in entry["traceback"]


def test_size_caps_hold() -> None:
    deep = _caught(lambda: _recurse(0))
    assert isinstance(deep, RecursionError)
    entry = json.loads(oc.error_entry(deep, 1)[0])
    tb = entry["traceback"]
    assert len(tb) <= oc.TRACEBACK_MAX_CHARS + len("...\n")
    assert "[Previous line repeated" in tb  # recursion folded as Python folds it
    assert tb.rstrip().endswith("RecursionError: maximum recursion depth exceeded")

    # Distinct frames (no folding): the tail, where the error is, is what stays.
    depth = sys.getrecursionlimit() // 2
    namespace: dict[str, Any] = {}
    exec(
        "\n".join(f"def f{i}():\n    return f{i + 1}()" for i in range(depth))
        + f"\ndef f{depth}():\n    raise LookupError('bottom')\n",
        namespace,
    )
    long_tb = json.loads(oc.error_entry(_caught(namespace["f0"]), 1)[0])["traceback"]
    assert long_tb.startswith("...\n") and len(long_tb) == oc.TRACEBACK_MAX_CHARS + len("...\n")
    assert long_tb.rstrip().endswith("LookupError: bottom")

    huge = ValueError("x" * 1_000_000)
    entry_json, last_error = oc.error_entry(_caught(lambda: (_ for _ in ()).throw(huge)), 1)
    entry = json.loads(entry_json)
    assert entry["message"].startswith("x" * oc.MESSAGE_MAX_CHARS)
    assert entry["message"].endswith(f"... ({1_000_000 - oc.MESSAGE_MAX_CHARS} more characters)")
    assert last_error == f"ValueError: {entry['message']}"
    assert len(entry_json) < oc.TRACEBACK_MAX_CHARS + 3 * oc.MESSAGE_MAX_CHARS


# --- one statement for a batch of every kind --------------------------------------------------
def _running(conn: psycopg.Connection, worker: uuid.UUID, queue: str, count: int) -> list[int]:
    rows = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, attempt, max_attempts, worker_id, started_at, "
        "lease_expires_at) SELECT %s, 't.x', 'running', 1, 5, %s, now(), now() + interval '1 minute' "
        "FROM generate_series(1, %s) RETURNING id",
        (queue, worker, count),
    ).fetchall()
    return [r[0] for r in rows]


def _clock(conn: psycopg.Connection) -> dt.datetime:
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def test_mixed_batch_every_kind_fenced_in_one_statement(conn: psycopg.Connection, dsn: str) -> None:
    me = uuid.uuid4()
    ok, retry_now, snooze, handback, dead, cancelled, fenced = _running(conn, me, "default", 7)
    [retry_later] = _running(conn, me, "later", 1)
    error, last_error = oc.error_entry(_caught(lambda: _load("b")), 1)
    batch = [
        oc.succeeded(ok, 1, '{"done": true}'),
        oc.Outcome(oc.Kind.RETRY, retry_now, 1, error=error, last_error=last_error, delay=0.0),
        # int delays beside float ones (Retry(delay=60), Snooze(30)): psycopg refuses a list
        # mixing int and float, so the completer must send floats.
        oc.Outcome(oc.Kind.RETRY, retry_later, 1, error=error, last_error=last_error, delay=60),
        oc.Outcome(oc.Kind.SNOOZE, snooze, 1, delay=30),
        oc.handback(handback, 1),
        oc.Outcome(oc.Kind.DEAD, dead, 1, error=error, last_error=last_error),
        oc.cancelled(cancelled, 1),
        oc.succeeded(fenced, 2, None),  # not this attempt: fenced out
    ]
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN pgqueue_jobs")
        t0 = _clock(conn)
        applied = write_batch(conn, me, batch)
        t1 = _clock(conn)
        woken = [n.payload for n in listener.notifies(timeout=1.0)]
    assert applied == {ok, retry_now, retry_later, snooze, handback, dead, cancelled}
    assert woken == ["default"]  # one per queue with a job due now; 'later' is not due

    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT id, state, attempt, worker_id IS NULL, finished_at IS NOT NULL, result, "
            "jsonb_array_length(errors), last_error, run_at "
            "FROM pgqueue.jobs"
        ).fetchall()
    }
    # state, attempt, worker cleared, finished, result, errors, last_error, run_at
    assert rows[ok][:7] == ("succeeded", 1, False, True, {"done": True}, 0, None)
    assert rows[retry_now][:7] == ("queued", 1, True, False, None, 1, "ValueError: cannot load 'b'")
    assert rows[retry_now][7] <= t1
    assert rows[retry_later][:7] == ("queued", 1, True, False, None, 1, "ValueError: cannot load 'b'")
    assert t0 + dt.timedelta(seconds=60) <= rows[retry_later][7] <= t1 + dt.timedelta(seconds=60)
    assert rows[snooze][:7] == ("queued", 0, True, False, None, 0, None)
    assert t0 + dt.timedelta(seconds=30) <= rows[snooze][7] <= t1 + dt.timedelta(seconds=30)
    assert rows[handback][:7] == ("queued", 0, True, False, None, 0, None)
    assert rows[handback][7] < t0  # run_at kept: its place in claim order
    assert rows[dead][:7] == ("dead", 1, False, True, None, 1, "ValueError: cannot load 'b'")
    assert rows[cancelled][:6] == ("cancelled", 1, False, True, None, 1)
    assert rows[cancelled][6].startswith("JobCancelled")
    assert rows[fenced][:4] == ("running", 1, False, False)
    stored = conn.execute("SELECT errors -> 0 FROM pgqueue.jobs WHERE id = %s", (dead,)).fetchone()
    assert stored is not None and stored[0] == json.loads(error)

    # The outcome of the fenced-out attempt, written again by its real owner, applies.
    assert write_batch(conn, me, [oc.Outcome(oc.Kind.DEAD, fenced, 1, error=error, last_error="x")]) == {
        fenced
    }


# --- real workers racing for retried jobs ------------------------------------------------------
APP = "tests.worker.failing_app:app"


def test_mixed_failures_exact_counts_with_several_worker_processes(
    conn: psycopg.Connection, workers: Workers
) -> None:
    plain, once, always, retry_now = 600, 100, 30, 50
    # Spread run_at so the kinds are claimed interleaved, as in pgqueue bench's retries.
    for task, count in (("f.ok", plain), ("f.once", once), ("f.always", always), ("f.retry_now", retry_now)):
        insert_jobs(conn, task, "'[]'::jsonb", count, max_attempts="3")
    conn.execute("UPDATE pgqueue.jobs SET run_at = now() - (random() * interval '1 second')")
    procs = [workers.start("--concurrency", "20", app=APP) for _ in range(3)]
    wait_for(
        lambda: (
            conn.execute(
                "SELECT count(*) FROM pgqueue.jobs WHERE state NOT IN ('succeeded', 'dead')"
            ).fetchone()
            == (0,)
        ),
        timeout=120,
        interval=0.1,
    )
    found = {
        (task, state): (count, attempts, errors)
        for task, state, count, attempts, errors in conn.execute(
            "SELECT task, state, count(*)::int, sum(attempt)::int, sum(jsonb_array_length(errors))::int "
            "FROM pgqueue.jobs GROUP BY 1, 2"
        ).fetchall()
    }
    assert found == {
        ("f.ok", "succeeded"): (plain, plain, 0),
        ("f.once", "succeeded"): (once, 2 * once, once),
        ("f.always", "dead"): (always, 3 * always, 3 * always),
        ("f.retry_now", "succeeded"): (retry_now, 2 * retry_now, retry_now),
    }
    tracebacks = [
        r[0]
        for r in conn.execute(
            "SELECT errors -> 0 ->> 'traceback' FROM pgqueue.jobs WHERE task = 'f.once'"
        ).fetchall()
    ]
    for tb in tracebacks:
        assert 'failing_app.py", line' in tb and "in _lookup\n    raise KeyError(key)\n" in tb
        assert "KeyError: 'first attempt'" in tb
        assert "The above exception was the direct cause of the following exception:" in tb
        assert tb.rstrip().endswith("tests.worker.failing_app.Flaky: failed on attempt 1")
        assert not CARETS.search(tb)
    for n, proc in enumerate(procs):
        assert proc.poll() is None, workers.log(n)
        assert "fenced out" not in workers.log(n)
