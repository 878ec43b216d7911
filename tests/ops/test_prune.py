"""Pruning: `pgqueue prune` and the retention workers run; only old terminal jobs go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

import pgqueue
from pgqueue._admin import Retention, prune, run_retention

from .support import cli, cli_json, seed


def _ids(conn: psycopg.Connection[Any]) -> set[int]:
    return {r[0] for r in conn.execute("SELECT id FROM pgqueue.jobs")}


def _mixed(conn: psycopg.Connection[Any]) -> tuple[set[int], set[int]]:
    """(ids the default retention removes, ids it keeps)."""
    gone = {
        *seed(conn, state="succeeded", finished_ago="8 days", count=3),
        *seed(conn, state="cancelled", finished_ago="8 days"),
        *seed(conn, state="dead", finished_ago="31 days", count=2),
    }
    kept = {
        *seed(conn, state="succeeded", finished_ago="6 days"),
        *seed(conn, state="dead", finished_ago="29 days"),
        *seed(conn, state="queued", created_at="2020-01-01T00:00:00Z"),
        *seed(conn, state="running", created_at="2020-01-01T00:00:00Z"),
        *seed(conn, state="waiting"),
    }
    return gone, kept


def test_prune_cli_default_retention_deletes_only_old_terminal_jobs(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    gone, kept = _mixed(conn)
    dry = cli_json(dsn, "prune", "--dry-run")
    assert dry["deleted"] == {"succeeded": 3, "cancelled": 1, "dead": 2} and dry["dry_run"]
    assert _ids(conn) == gone | kept

    done = cli_json(dsn, "prune")
    assert done["total"] == 6 and done["batches"] >= 3
    assert _ids(conn) == kept

    human = cli(dsn, "prune")
    assert human.returncode == 0 and "deleted 0 jobs" in human.stdout


def test_prune_cli_older_than_and_state(conn: psycopg.Connection[Any], dsn: str) -> None:
    young_done = seed(conn, state="succeeded", finished_ago="2 days", count=2)
    young_dead = seed(conn, state="dead", finished_ago="2 days")
    fresh = seed(conn, state="succeeded", finished_ago="1 hour")
    out = cli_json(dsn, "prune", "--older-than", "1d", "--state", "succeeded")
    assert out["deleted"] == {"succeeded": 2}
    assert _ids(conn) == set(young_dead + fresh)
    assert not set(young_done) & _ids(conn)

    assert cli(dsn, "prune", "--state", "queued").returncode == 2
    assert cli(dsn, "prune", "--older-than", "soon").returncode == 2


def test_prune_works_in_batches(conn: psycopg.Connection[Any], app: pgqueue.App) -> None:
    seed(conn, state="succeeded", finished_ago="8 days", count=10)
    result = prune(app, states=["succeeded"], batch_size=3)
    assert result.deleted == {"succeeded": 10} and result.batches == 4  # 3 + 3 + 3 + 1


def test_retention_runs_on_one_elected_process(
    conn: psycopg.Connection[Any], dsn: str, app: pgqueue.App
) -> None:
    gone, kept = _mixed(conn)
    with psycopg.connect(dsn, autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(hashtextextended('pgqueue.retention', 0))")
        assert run_retention(app) is None  # another process is the pruner
        assert _ids(conn) == gone | kept
        other_worker.execute("SELECT pg_advisory_unlock(hashtextextended('pgqueue.retention', 0))")
    capped = run_retention(app, batch_size=1, max_batches=2)
    assert capped is not None and capped.total == 2 and not capped.complete
    rest = run_retention(conn)  # a plain autocommit connection works too
    assert rest is not None and rest.complete and rest.total == 4
    assert _ids(conn) == kept


def test_retention_settings(conn: psycopg.Connection[Any], app: pgqueue.App) -> None:
    (old_dead,) = seed(conn, state="dead", finished_ago="2 days")
    (old_done,) = seed(conn, state="succeeded", finished_ago="400 days")
    keep_dead_forever = Retention(succeeded=timedelta(days=1), dead=None)
    result = run_retention(app, keep_dead_forever)
    assert result is not None and result.deleted == {"succeeded": 1, "cancelled": 0}
    assert _ids(conn) == {old_dead}
    assert old_done not in _ids(conn)
