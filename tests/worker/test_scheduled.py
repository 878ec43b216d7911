"""Scheduled jobs start at their run_at, not at the next poll: the workers here poll once
an hour, so only the scheduled wake-up (migration 0010), the probe of the next due time
and the due-time timer can explain a start during the test."""

from __future__ import annotations

import os
import signal

import psycopg

import pgqueue
from tests.helpers import wait_for
from tests.worker.conftest import Workers, succeeded

NO_POLL = "3600"


def _started_on_time(conn: psycopg.Connection, ids: list[int]) -> bool:
    """Every job ran once, and none started before its run_at."""
    rows = conn.execute(
        "SELECT j.id, count(e.id), bool_and(e.started_at >= j.run_at) FROM pgqueue.jobs AS j"
        " JOIN exec_log AS e ON e.job_id = j.id WHERE j.id = ANY(%s) GROUP BY j.id",
        (ids,),
    ).fetchall()
    return len(rows) == len(ids) and all(n == 1 and early for _, n, early in rows)


def test_delayed_jobs_enqueued_while_the_worker_idles_start_without_a_poll(
    exec_log: psycopg.Connection, workers: Workers, dsn: str
) -> None:
    workers.start("--concurrency", "4", "--poll-interval", NO_POLL)
    workers.wait_registered(1)
    with pgqueue.App(dsn=dsn) as producer:
        ids = [producer.enqueue("t.record", [n], delay=d).id for n, d in enumerate((1.5, 0.3, 3.0))]
        ids += [producer.enqueue("t.record", [9], run_at=None, delay=0.01).id]
    # One statement, many moments: its wake-up names the earliest; the probe after each
    # timer-driven claim finds the next.
    ids += [
        r[0]
        for r in exec_log.execute(
            "INSERT INTO pgqueue.jobs (task, args, run_at)"
            " SELECT 't.record', jsonb_build_array(g), now() + make_interval(secs => g * 0.4)"
            " FROM generate_series(1, 5) AS g RETURNING id"
        )
    ]
    wait_for(lambda: all(succeeded(exec_log, i) for i in ids), timeout=60)
    assert _started_on_time(exec_log, ids)


def test_a_delayed_job_is_found_by_a_worker_started_after_it_was_enqueued(
    exec_log: psycopg.Connection, workers: Workers, dsn: str
) -> None:
    first = workers.start("--concurrency", "2", "--poll-interval", NO_POLL)
    workers.wait_registered(1)
    with pgqueue.App(dsn=dsn) as producer:
        job = producer.enqueue("t.record", [1], delay=10)  # past the second worker's start
    os.killpg(first.pid, signal.SIGKILL)  # the worker that heard of it is gone
    first.wait(timeout=10)
    workers.start("--concurrency", "2", "--poll-interval", NO_POLL)
    wait_for(lambda: len(workers.registered()) >= 2, timeout=30)
    sql = "SELECT run_at > now() FROM pgqueue.jobs WHERE id = %s"
    still_future = exec_log.execute(sql, (job.id,)).fetchone()
    assert still_future == (True,)  # so only the new worker's probe at start can find it
    wait_for(lambda: succeeded(exec_log, job.id), timeout=60)
    assert _started_on_time(exec_log, [job.id])
