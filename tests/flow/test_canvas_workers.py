"""Workflows that heal and compose (issue 18 item 2), end to end with real worker processes:
retrying a failed step re-arms the rest, link / link_error callbacks, ``|``, chord options,
map / starmap / chunks, and the Celery-style calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import pgqueue
from tests.flow import flow_app
from tests.flow.test_flow_workers import app, workers  # noqa: F401 - fixtures
from tests.helpers import wait_for


def _callbacks(dsn: str, job_id: int) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT job_id FROM pgqueue.job_dependencies WHERE depends_on = %s ORDER BY job_id",
            [job_id],
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def fix(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "fixed"


def test_retrying_a_dead_step_rearms_the_steps_cancelled_because_of_it(
    app: pgqueue.App, workers: None, fix: Path  # noqa: F811
) -> None:
    handle = pgqueue.chain(
        flow_app.add.s(1, 1), flow_app.flaky.s(str(fix)), flow_app.add.s(10), flow_app.add.s(100)
    ).enqueue()
    first, middle, third, last = handle.jobs
    with pytest.raises(pgqueue.JobFailed):
        middle.get(timeout=60)
    with pytest.raises(pgqueue.JobFailed) as cancelled:
        last.get(timeout=30)
    assert cancelled.value.state == "cancelled"
    assert third.refresh().state == pgqueue.JobState.CANCELLED

    fix.touch()  # the bug is fixed; retry the step that died
    assert middle.retry()
    assert handle.get(timeout=60) == 112
    assert [j.refresh().state for j in (first, middle, third, last)] == [pgqueue.JobState.SUCCEEDED] * 4
    assert third.refresh().row.last_error is None


def test_link_error_on_a_chain_runs_once_with_the_failed_job(
    app: pgqueue.App, workers: None  # noqa: F811
) -> None:
    failing = pgqueue.chain(flow_app.add.s(1), flow_app.boom.s(), flow_app.add.s(3))
    failing.link_error(flow_app.on_error.s("chain"))
    handle = failing.enqueue()
    first, boom, last, errback = handle.jobs
    report = errback.get(timeout=60)
    assert report["failed"] == boom.id and report["tag"] == "chain"
    assert "boom 1" in report["error"]
    assert last.refresh().state == pgqueue.JobState.CANCELLED
    assert first.refresh().state == pgqueue.JobState.SUCCEEDED

    fine = (flow_app.add.s(1) | flow_app.add.s(2)).link_error(flow_app.on_error.s("fine")).enqueue()
    assert fine.get(timeout=60) == 3
    not_needed = fine.jobs[-1]
    wait_for(lambda: not_needed.refresh().state == pgqueue.JobState.CANCELLED, timeout=30)
    assert not_needed.row.last_error == "not needed: every job it watched succeeded"


def test_chord_with_a_failed_member(app: pgqueue.App, workers: None) -> None:  # noqa: F811
    header = [flow_app.add.s(1, 1), flow_app.boom.s(2), flow_app.add.s(3, 3)]
    # default: the body is cancelled, and the chord's error callback names the member
    cancelled = pgqueue.chord(header, flow_app.collect.s()).link_error(flow_app.on_error.s("chord"))
    handle = cancelled.enqueue()
    report = handle.jobs[-1].get(timeout=60)
    assert report["failed"] == handle.jobs[1].id and report["tag"] == "chord"
    with pytest.raises(pgqueue.JobFailed) as failed:
        handle.get(timeout=30)
    assert failed.value.state == "cancelled"
    # on_dependency_failure="run" as a keyword: the body runs with a null for the member
    ran = pgqueue.chord(header, flow_app.collect.s(), on_dependency_failure="run").enqueue()
    assert ran.get(timeout=60) == [2, None, 6]


def test_celery_calls_link_pipes_and_group_to_chord(app: pgqueue.App, workers: None, dsn: str) -> None:  # noqa: F811
    job = flow_app.add.apply_async((2, 3), link=flow_app.mul.s(10), link_error=flow_app.on_error.s("x"))
    assert job.get(timeout=60) == 5
    assert job.ready() and job.successful() and not job.failed()
    callback, errback = (app.job(i) for i in _callbacks(dsn, job.id))
    assert callback.get(timeout=60) == 50
    wait_for(lambda: errback.refresh().state == pgqueue.JobState.CANCELLED, timeout=30)

    assert flow_app.add.delay(4, y=4).get(timeout=60) == 8
    assert (flow_app.add.s(1, 2) | flow_app.mul.s(10) | flow_app.add.s(5)).delay().get(timeout=60) == 35
    fan_in = pgqueue.group(flow_app.add.s(i, i) for i in range(4)) | flow_app.total.s()
    assert isinstance(fan_in, pgqueue.chord)
    assert fan_in.apply_async().get(timeout=60)["sum"] == 12
    assert pgqueue.chord([flow_app.add.s(1, 1)])(flow_app.collect.s()).get(timeout=60) == [2]
    # a signature's delay prepends its arguments, as Celery's partials do
    assert flow_app.add.s(y=1).delay(41).get(timeout=60) == 42


def test_map_starmap_and_chunks(app: pgqueue.App, workers: None) -> None:  # noqa: F811
    assert flow_app.add.map([1, 2, 3]).delay().get(timeout=60) == [1, 2, 3]
    assert flow_app.add.starmap([(1, 2), (3, 4)]).delay().get(timeout=60) == [3, 7]
    grouped = flow_app.add.chunks([(i, i) for i in range(10)], 3)
    assert len(grouped.members) == 4
    assert grouped.delay().get(timeout=60) == [[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]
    # async tasks too, in their own queue
    assert flow_app.mul.starmap([(2, 3), (4, 5)]).delay().get(timeout=60) == [6, 20]


def _worker(dsn: str, queues: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pgqueue.cli", "work", "--app", "tests.flow.flow_app:app",
         "-q", queues, "--concurrency", "2", "--lease", "2", "--heartbeat-interval", "0.5",
         "--rescue-interval", "0.5"],
        env={**os.environ, "PGQUEUE_DSN": dsn}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_worker_killed_mid_step_fires_link_error_and_the_retry_resumes_the_chain(
    app: pgqueue.App, dsn: str, fix: Path  # noqa: F811
) -> None:
    victim = _worker(dsn, "flow.crash")
    survivor: subprocess.Popen[bytes] | None = None
    try:
        flow = pgqueue.chain(flow_app.hang.s(5, str(fix)), flow_app.add.s(1))
        handle = flow.link_error(flow_app.on_error.s("crash")).enqueue()
        step, after, errback = handle.jobs
        wait_for(lambda: step.refresh().state == pgqueue.JobState.RUNNING, timeout=60)
        survivor = _worker(dsn, "default,flow.crash")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        report = errback.get(timeout=90)  # the survivor rescues the step: dead, attempts used up
        assert report["failed"] == step.id and report["error"].startswith("WorkerLost")
        assert after.refresh().state == pgqueue.JobState.CANCELLED
        fix.touch()
        assert step.retry()
        assert handle.get(timeout=60) == 6
        assert errback.refresh().state == pgqueue.JobState.SUCCEEDED  # it ran once, not again
    finally:
        _stop(victim)
        if survivor is not None:
            _stop(survivor)
