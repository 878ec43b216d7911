"""Unique keys: one live job per key, enforced by the partial unique index, under races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

import pgqueue

from ..helpers import wait_for
from .enqueue_support import count_jobs


def keyed_app(dsn: str) -> pgqueue.App:
    app = pgqueue.App(dsn=dsn, pool_max_size=10)

    @app.task(name="sync.account")
    def sync_account(account_id: int) -> None: ...

    return app


def blocked_on_a_lock(dsn: str) -> Callable[[], bool]:
    def check() -> bool:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
        return bool(row and row[0] > 0)

    return check


def test_duplicate_returns_the_live_job_and_a_finished_holder_frees_the_key(dsn: str) -> None:
    with keyed_app(dsn) as app:
        task = app.tasks["sync.account"].configure(unique_key="account:1")
        first = task.enqueue(1)
        assert task.enqueue(1).id == first.id
        assert app.enqueue("sync.account", args=(1,), unique_key="account:1").id == first.id
        assert count_jobs(dsn) == 1
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = %s",
                (first.id,),
            )
        again = task.enqueue(1)
        assert again.id != first.id
        assert count_jobs(dsn, "unique_key = 'account:1'") == 2
        assert count_jobs(dsn, "unique_key = 'account:1' AND state = 'queued'") == 1


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_enqueuer_waiting_on_an_uncommitted_holder(dsn: str, outcome: str) -> None:
    """B's INSERT waits for A's uncommitted row; B then returns A's job, or its own."""
    with keyed_app(dsn) as app:
        task = app.tasks["sync.account"].configure(unique_key="account:7")
        with psycopg.connect(dsn) as conn_a, ThreadPoolExecutor(1) as pool:
            job_a = task.configure(conn=conn_a).enqueue(7)
            later = pool.submit(task.enqueue, 7)  # pgqueue's own connection
            wait_for(blocked_on_a_lock(dsn), timeout=30)
            assert not later.done()
            conn_a.commit() if outcome == "commit" else conn_a.rollback()
            job_b = later.result(timeout=30)
        if outcome == "commit":
            assert job_b.id == job_a.id
        else:
            assert job_b.id != job_a.id
        assert count_jobs(dsn, "unique_key = 'account:7'") == 1


def test_holder_finishing_while_we_wait_lets_the_new_job_in(dsn: str) -> None:
    with keyed_app(dsn) as app:
        task = app.tasks["sync.account"].configure(unique_key="account:9")
        holder = task.enqueue(9)
        with psycopg.connect(dsn) as worker, ThreadPoolExecutor(1) as pool:
            worker.execute(
                "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = %s",
                (holder.id,),
            )
            later = pool.submit(task.enqueue, 9)
            wait_for(blocked_on_a_lock(dsn), timeout=30)
            worker.commit()
            new = later.result(timeout=30)
        assert new.id != holder.id
        assert count_jobs(dsn, "unique_key = 'account:9' AND state = 'queued'") == 1


def test_concurrent_enqueuers_make_exactly_one_row(dsn: str) -> None:
    threads, rounds = 8, 25
    with keyed_app(dsn) as app:
        task = app.tasks["sync.account"]
        start = threading.Barrier(threads)

        def enqueuer(n: int) -> set[int]:
            seen: set[int] = set()
            start.wait(timeout=30)
            for i in range(rounds):
                key = f"race:{i}"
                if n % 2:  # half of them in transactions of their own
                    with psycopg.connect(dsn) as conn:
                        seen.add(task.configure(conn=conn, unique_key=key).enqueue(i).id)
                        conn.commit()
                else:
                    seen.add(task.configure(unique_key=key).enqueue(i).id)
            return seen

        with ThreadPoolExecutor(threads) as pool:
            results: list[Any] = list(pool.map(enqueuer, range(threads)))
        assert all(r == results[0] for r in results)  # everyone got the same job per key
        assert len(results[0]) == rounds
        assert count_jobs(dsn) == rounds
