"""Workflows end to end across two real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

import pgqueue
from pgqueue.workflow import chain, chord, group
from tests.flow import flow_app


@pytest.fixture
def workers(dsn: str) -> Iterator[None]:
    env = {**os.environ, "PGQUEUE_DSN": dsn}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pgqueue.cli", "work", "--app", "tests.flow.flow_app:app",
             "-q", "default,flow.math", "--concurrency", "4"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(2)
    ]
    yield
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture
def app(dsn: str) -> Iterator[pgqueue.App]:
    flow_app.app._dsn = dsn  # the module's app, pointed at this test's database
    flow_app.app._resolved_dsn = None
    yield flow_app.app
    flow_app.app.close()


def test_chain_group_and_chord_complete_with_results(app: pgqueue.App, workers: None) -> None:
    c = chain(flow_app.add.s(1, 2), flow_app.mul.s(10), flow_app.add.s(y=5)).enqueue()
    g = group(flow_app.add.s(i, i) for i in range(50)).enqueue()
    ch = chord([flow_app.mul.s(i, 2) for i in range(20)], flow_app.total.s()).enqueue()
    assert c.result(timeout=60) == 35
    assert g.result(timeout=60) == [2 * i for i in range(50)]
    done = ch.result(timeout=60)
    assert (done["sum"], done["n"]) == (sum(2 * i for i in range(20)), 20)


def test_failing_middle_step_cancels_the_rest(app: pgqueue.App, workers: None, dsn: str) -> None:
    handle = chain(flow_app.add.s(1), flow_app.boom.s(), flow_app.add.s(3)).enqueue()
    first, middle, last = handle.jobs
    with pytest.raises(pgqueue.JobFailed):
        middle.result(timeout=60)
    with pytest.raises(pgqueue.JobFailed) as failed:
        last.result(timeout=30)
    assert failed.value.state == "cancelled"
    assert first.refresh().state == pgqueue.JobState.SUCCEEDED


def test_progress_is_stored_and_readable(app: pgqueue.App, workers: None) -> None:
    job = flow_app.progress.enqueue(200)
    assert job.result(timeout=60) == 200
    progress = job.refresh().progress
    assert progress is not None
    assert (progress["current"], progress["total"], progress["message"]) == (200, 200, "step 200")


def test_depends_on_through_configure(app: pgqueue.App, workers: None, dsn: str) -> None:
    a = flow_app.add.enqueue(1, 1)
    b = flow_app.add.enqueue(2, 2)
    after = flow_app.add.configure(depends_on=[a, b]).enqueue(100)
    assert after.result(timeout=60) == 100
    with psycopg.connect(dsn) as conn:
        started = conn.execute(
            "SELECT (SELECT started_at FROM pgqueue.jobs WHERE id = %s) >= "
            "(SELECT max(finished_at) FROM pgqueue.jobs WHERE id = ANY(%s))",
            [after.id, [a.id, b.id]],
        ).fetchone()
    assert started == (True,)


@pytest.mark.parametrize("bad", [-1, float("nan"), "3", True])
def test_progress_refuses_bad_numbers_and_the_attempt_records_it(dsn: str, bad: object) -> None:
    from pgqueue.testing import run_job

    with pgqueue.App(dsn=dsn) as local:
        @local.task(name="flow.bad_progress", bind=True, max_attempts=1)
        def bad_progress(ctx: pgqueue.Context) -> None:
            ctx.progress(bad)  # type: ignore[arg-type]

        job = run_job(bad_progress.enqueue())
        row = job.refresh().row
        assert row.state == pgqueue.JobState.DEAD
        assert row.last_error is not None and "progress current must be" in row.last_error
        assert row.progress is None


def test_progress_writes_are_throttled(dsn: str) -> None:
    from pgqueue.testing import run_job

    with pgqueue.App(dsn=dsn) as local:
        written: list[bool] = []

        @local.task(name="flow.tight_loop", bind=True)
        def tight_loop(ctx: pgqueue.Context) -> None:
            for i in range(1, 1001):
                written.append(ctx.progress(i, 1000))

        run_job(tight_loop.enqueue())
    assert written[0] and written[-1]
    assert sum(written) < 20  # 1,000 reports, a handful of writes
