"""Running the CLI as a subprocess and seeding jobs with plain SQL (no worker needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pgqueue.cli --dsn DSN ARGS...``; output captured, never raises."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def cli_json(dsn: str, *args: str, code: int = 0) -> Any:
    """Run a command with --json, check its exit code, return the parsed output."""
    result = cli(dsn, *args, "--json")
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def seed(
    conn: psycopg.Connection[Any],
    *,
    state: str = "queued",
    queue: str = "default",
    task: str = "t.noop",
    finished_ago: str | None = None,
    count: int = 1,
    **extra: Any,
) -> list[int]:
    """Insert ``count`` jobs directly in ``state`` (finished ``finished_ago`` ago when
    terminal) and return their ids. ``extra`` sets further columns."""
    terminal = state in ("succeeded", "dead", "cancelled")
    ids = [
        r[0]
        for r in conn.execute(
            "INSERT INTO pgqueue.jobs (queue, task) SELECT %s, %s FROM generate_series(1, %s) RETURNING id",
            (queue, task, count),
        )
    ]
    conn.execute(
        """UPDATE pgqueue.jobs SET state = %(state)s,
               finished_at = CASE WHEN %(terminal)s
                   THEN now() - coalesce(%(ago)s::interval, '0s') END,
               worker_id = CASE WHEN %(state)s = 'running' THEN gen_random_uuid() END,
               lease_expires_at = CASE WHEN %(state)s = 'running'
                   THEN now() + interval '30 seconds' END,
               started_at = CASE WHEN %(state)s <> 'queued' THEN now() END
           WHERE id = ANY(%(ids)s)""",
        {"state": state, "terminal": terminal, "ago": finished_ago, "ids": ids},
    )
    for column, value in extra.items():
        conn.execute(
            sql.SQL("UPDATE pgqueue.jobs SET {} = %s WHERE id = ANY(%s)").format(sql.Identifier(column)),
            (value, ids),
        )
    return ids


def row(conn: psycopg.Connection[Any], job_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    found = cur.execute("SELECT * FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    assert found is not None
    return found
