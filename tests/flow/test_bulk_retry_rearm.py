"""Bulk retries heal workflows like the single retry: a failed step retried together with
the dependents cancelled because of it (``pgqueue jobs retry`` by filter, the dashboard's
"retry all dead" and bulk retry, all through pgqueue._admin.retry_jobs) leaves those
dependents waiting for it, never queued to run without it."""

from __future__ import annotations

import psycopg

import pgqueue
from pgqueue._admin import retry_jobs
from tests.flow.test_workflow_db import _finish, _state, _tasks
from tests.ops.support import cli


def _chain(app: pgqueue.App, conn: psycopg.Connection) -> tuple[int, int, int, int]:
    add, _, _ = _tasks(app)
    a, b, c, d = (j.id for j in pgqueue.chain(add.s(1), add.s(), add.s(), add.s()).enqueue().jobs)
    _finish(conn, a, 1)
    _finish(conn, b, None, state="dead")
    assert [_state(conn, i)[0] for i in (c, d)] == ["cancelled", "cancelled"]
    return a, b, c, d


def test_retry_by_filter_rearms_instead_of_requeueing_the_cancelled_tail(
    app: pgqueue.App, conn: psycopg.Connection, dsn: str
) -> None:
    _, b, c, d = _chain(app, conn)
    result = cli(dsn, "jobs", "retry", "--task", "add", "--yes")  # dead and cancelled ones
    assert result.returncode == 0, result.stderr
    assert [_state(conn, i)[0] for i in (b, c, d)] == ["queued", "waiting", "waiting"]
    _finish(conn, b, 5)
    assert _state(conn, c) == ("queued", [5])
    _finish(conn, c, 6)
    assert _state(conn, d) == ("queued", [6])


def test_batches_of_one_rearm_the_tail_after_the_parent_went_first(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    _, b, c, d = _chain(app, conn)
    assert retry_jobs(app, ids=[d, c, b], batch_size=1) == [b]  # c and d wait again instead
    assert [_state(conn, i)[0] for i in (b, c, d)] == ["queued", "waiting", "waiting"]


def test_a_dependent_retried_alone_runs_as_the_operator_asked(
    app: pgqueue.App, conn: psycopg.Connection
) -> None:
    _, b, c, _ = _chain(app, conn)
    assert retry_jobs(app, ids=[c]) == [c]
    assert _state(conn, c)[0] == "queued"  # its parent stays dead: nothing to wait for
    assert _state(conn, b)[0] == "dead"
