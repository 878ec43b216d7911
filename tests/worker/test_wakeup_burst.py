"""Quiet single enqueues (pgqueue._wake) reach a worker that never polls: a job enqueued
right after another, while the worker sleeps again, is woken by the trailing NOTIFY."""

from __future__ import annotations

import time

import psycopg

import pgqueue
from tests.helpers import wait_for
from tests.worker.conftest import Workers, succeeded

NO_POLL = "3600"  # only a NOTIFY can explain a claim during the test
WINDOW_MS = 1000


def test_a_quiet_job_enqueued_while_the_worker_sleeps_still_runs(
    exec_log: psycopg.Connection, workers: Workers, dsn: str
) -> None:
    workers.start("--concurrency", "4", "--poll-interval", NO_POLL)
    workers.wait_registered(1)
    conclusive = 0
    with pgqueue.App(dsn=dsn, wake_window_ms=WINDOW_MS, wake_burst=1) as producer:
        for n in range(3):
            started = time.monotonic()
            loud = producer.enqueue("t.record", [2 * n])  # wakes the worker in its commit
            wait_for(lambda j=loud.id: succeeded(exec_log, j), timeout=30)  # asleep again
            before = producer.wakeups.sent
            quiet = producer.enqueue("t.record", [2 * n + 1])  # within the window: no NOTIFY
            if time.monotonic() - started < 0.9 * WINDOW_MS / 1000:  # it was quiet
                conclusive += 1
                wait_for(lambda j=quiet.id: succeeded(exec_log, j), timeout=30)
                assert producer.wakeups.sent == before + 1  # the trailing wake-up woke it
            else:  # a slow box: the job had its own NOTIFY; nothing learnt this round
                wait_for(lambda j=quiet.id: succeeded(exec_log, j), timeout=30)
    assert conclusive >= 1
    assert exec_log.execute("SELECT count(DISTINCT job_id) FROM exec_log").fetchone() == (6,)
