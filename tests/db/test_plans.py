"""Hot-path plans under adversarial planner statistics (DESIGN §4.9).

Autovacuum analyzes pgqueue.jobs whenever it likes, so every hot statement must keep its
intended plan whatever the statistics say. Each statement runs under EXPLAIN (ANALYZE,
BUFFERS) in a rolled-back transaction on a real table in each of the states below, after
ANALYZE in that state, with its batch of rows arriving after the ANALYZE (so the
statistics are as wrong about them as autovacuum's often are):

- ``empty``: analyzed while empty;
- ``queued``: 50k queued and none running;
- ``running``: 50k running (another worker's);
- ``finished``: 1M finished and 10k queued;
- ``batch``: 1,000 running rows of the completing worker among 50k queued, analyzed so.

The shape that matters: no sequential scan of pgqueue.jobs, no join filter over its rows,
and the buffers of every node that reads pgqueue.jobs bounded by the batch, not the table.
Against the pre-0.8 complete_success.sql (fence as restrictions on the jobs side) this
fails: the planner scans the table and joins the batch arrays against it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgqueue._sql import query

from ..conftest import create_database, drop_database

BATCH = 1_000
"""Rows the worker under test holds: its claim, completion and heartbeat batch."""

BUFFERS_PER_ROW = 8
"""Buffer visits a plan may spend per batch row on pgqueue.jobs (a primary-key probe costs
3-5: index root, leaf, heap; an UPDATE more for its index entries). A scan of the table
costs about one per 60 rows of it, so the 1M-row state exceeds this bound by far."""

BUFFERS_SLACK = 200
"""Fixed cost on top: metapages, the served queues' index descents, catalog pages."""


@dataclass
class State:
    name: str
    worker: uuid.UUID = field(default_factory=uuid.uuid4)
    ids: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)


def _insert(conn: psycopg.Connection[Any], n: int, state: str = "queued", queue: str = "default") -> None:
    finished = "now()" if state in ("succeeded", "dead", "cancelled") else "NULL"
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, finished_at)"  # noqa: S608 - constant text
        f" SELECT %s, 'plans.task', %s, {finished} FROM generate_series(1, %s)",
        (queue, state, n),
    )


def _claim(conn: psycopg.Connection[Any], worker: uuid.UUID, n: int) -> list[tuple[int, int]]:
    rows = conn.execute(
        query("claim"),
        {"queues": ["default"], "limit": n, "worker": worker, "lease_s": 600.0, "rate_tasks": []},
    ).fetchall()
    return sorted((r[0], r[7]) for r in rows if r[0] is not None)


def _build(conn: psycopg.Connection[Any], name: str) -> State:
    state = State(name)
    conn.execute("TRUNCATE pgqueue.jobs, pgqueue.schedules, pgqueue.queues CASCADE")
    if name == "queued":
        _insert(conn, 50_000)
    elif name == "running":
        _insert(conn, 50_000)
        _claim(conn, uuid.uuid4(), 50_000)
    elif name == "finished":
        _insert(conn, 1_000_000, "succeeded")
        _insert(conn, 10_000)
    elif name == "batch":
        _insert(conn, 50_000)
        held = _claim(conn, state.worker, BATCH)
        state.ids, state.attempts = [i for i, _ in held], [a for _, a in held]
    conn.execute("VACUUM (ANALYZE) pgqueue.jobs")
    # What arrives after the statistics: a queue head to claim, and the worker's batch.
    _insert(conn, 2 * BATCH)
    if not state.ids:
        held = _claim(conn, state.worker, BATCH)
        state.ids, state.attempts = [i for i, _ in held], [a for _, a in held]
    return state


STATES = ("empty", "queued", "running", "finished", "batch")


@pytest.fixture(scope="module")
def plans_db(pg_server: str, template_db: str) -> Iterator[str]:
    name = f"pgqueue_plans_{uuid.uuid4().hex[:8]}"
    dsn = create_database(pg_server, name, template=template_db)
    try:
        yield dsn
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="module", params=STATES)
def state(request: pytest.FixtureRequest, plans_db: str) -> Iterator[tuple[psycopg.Connection[Any], State]]:
    with psycopg.connect(plans_db, autocommit=True) as conn:
        yield conn, _build(conn, request.param)


# --- the statements -------------------------------------------------------------------------

Params = Callable[[psycopg.Connection[Any], State], dict[str, Any]]


def _claim_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    return {
        "queues": ["default", "other"],
        "limit": BATCH,
        "worker": uuid.uuid4(),
        "lease_s": 60.0,
        "rate_tasks": [],
    }


def _rated_claim_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    # A worker with a rate-limited task: the fast claim skips its jobs (none here).
    return dict(_claim_params(conn, s), rate_tasks=["plans.limited"])


def _task_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    # The task-limited claim with its task's jobs among the queued ones, after the
    # statistics (the backlog in front of them is other tasks' jobs).
    conn.execute("INSERT INTO pgqueue.task_limits (task) VALUES ('plans.task') ON CONFLICT DO NOTHING")
    return {
        "tasks": ["plans.task"],
        "limits": [BATCH],
        "periods": [60.0],
        "queues": ["default", "other"],
        "limit": BATCH,
        "scan": BATCH,
        "worker": uuid.uuid4(),
        "lease_s": 60.0,
    }


def _bounded_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    head = conn.execute(
        "SELECT priority, run_at, id FROM pgqueue.jobs WHERE state = 'queued' AND queue = 'default'"
        " ORDER BY priority DESC, run_at, id LIMIT 1"
    ).fetchone()
    assert head is not None
    return dict(
        _claim_params(conn, s), b_priority=[head[0], None], b_run_at=[head[1], None], b_id=[head[2], None]
    )


def _limited_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    conn.execute(
        "INSERT INTO pgqueue.queues (name, concurrency_limit, rate_limit, rate_period_s)"
        " VALUES ('default', 100000, 100000, 60)"
    )
    return {"locked": ["default"], "limit": BATCH, "worker": uuid.uuid4(), "lease_s": 60.0, "recheck_s": 1.0}


def _success_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    return {
        "ids": s.ids,
        "attempts": s.attempts,
        "results": ['{"ok": true}'] * len(s.ids),
        "worker": s.worker,
    }


def _mixed_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    kinds = ["succeeded", "queued", "dead", "cancelled"]
    n = len(s.ids)
    states = [kinds[i % 4] for i in range(n)]
    return {
        "ids": s.ids,
        "attempts": s.attempts,
        "states": states,
        "results": ["null"] * n,
        "delays": [1.5 if st == "queued" else None for st in states],
        "refunds": [0] * n,
        "errors": [None if st == "succeeded" else '{"type": "E", "message": "[x]"}' for st in states],
        "last_errors": [None if st == "succeeded" else "E: [x]" for st in states],
        "worker": s.worker,
    }


def _heartbeat_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    return {
        "worker": s.worker,
        "hostname": "plans",
        "pid": 1,
        "queues": ["default"],
        "concurrency": BATCH,
        "version": "0",
        "lease_s": 60.0,
        "stopping": False,
        "meta": Jsonb({}),
        "counts": Jsonb({"handed_back": 0}),
        "ids": s.ids,
    }


def _progress_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    return {"progress": Jsonb({"done": 1}), "id": s.ids[0], "attempt": s.attempts[0], "worker": s.worker}


def _rescue_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    # The batch's worker died a minute ago.
    conn.execute(
        "UPDATE pgqueue.jobs SET lease_expires_at = now() - interval '1 minute' WHERE id = ANY(%s)",
        (s.ids,),
    )
    return {"lock_key": 42, "limit": BATCH}


def _unique_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    keys = [f"k{i}" for i in range(200)]
    # Half the keys are held by live jobs already: both halves of the statement do work.
    conn.execute(
        "UPDATE pgqueue.jobs SET unique_key = 'k' || (row_number - 1)"
        " FROM (SELECT id, row_number() OVER (ORDER BY id) FROM pgqueue.jobs WHERE id = ANY(%s)) r"
        " WHERE pgqueue.jobs.id = r.id AND r.row_number <= 100",
        (s.ids,),
    )
    return {
        "queue": "default",
        "task": "plans.task",
        "args": ["[]"] * len(keys),
        "kwargs": ["{}"] * len(keys),
        "unique_keys": keys,
        "priority": 0,
        "max_attempts": 5,
        "run_at": None,
        "delay": None,
        "tags": [],
        "serial_key": None,
        "trace": None,
        "expires_in": None,
        "expires_at": None,
    }


def _schedule(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    conn.execute("INSERT INTO pgqueue.schedules (name, task, interval_s) VALUES ('plans', 'plans.task', 60)")
    at = conn.execute("SELECT date_trunc('minute', now())").fetchone()
    assert at is not None
    return {"name": "plans", "fire_at": at[0], "fired_by": uuid.uuid4()}


def _tick_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    return _schedule(conn)


def _fire_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    slot = _schedule(conn)
    conn.execute(query("cron_claim_tick"), slot)
    return slot


def _prune_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    return {"state": "succeeded", "cutoff": "infinity", "batch": BATCH}


def _next_due_params(conn: psycopg.Connection[Any], s: State) -> dict[str, Any]:
    # Scheduled jobs at three priorities, after the statistics: the probe must find the
    # earliest through the index whatever the backlog of due jobs in front of them.
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, priority, run_at)"
        " SELECT 'default', 'plans.task', p, now() + make_interval(mins => 60 + p)"
        " FROM unnest(ARRAY[10, 0, -10]) AS p"
    )
    # A worker passes the tasks its app registers (its probe skips jobs of other tasks).
    return {"queues": ["default", "other"], "tasks": ["plans.other", "plans.task"]}


STATEMENTS: dict[str, Params] = {
    "next_due": _next_due_params,
    "claim": _claim_params,
    "claim_bounded": _bounded_params,
    "claim_rated": _rated_claim_params,
    "claim_task": _task_params,
    "claim_limited": _limited_params,
    "complete_success": _success_params,
    "complete_mixed": _mixed_params,
    "heartbeat": _heartbeat_params,
    "job_progress": _progress_params,
    "rescue": _rescue_params,
    "enqueue_unique": _unique_params,
    "cron_claim_tick": _tick_params,
    "cron_fire": _fire_params,
    "admin_prune_batch": _prune_params,
}

SQL_NAME = {"claim_rated": "claim"}
"""Variants of one statement: the query file each runs."""

UNBOUNDED_READS = {
    # The concurrency limit counts the queue's running jobs through jobs_lease_idx: bounded
    # by the slots of all workers (claim_limited.sql), so not by this worker's batch.
    ("claim_limited", "running"),
}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query(name),  # type: ignore[operator]
        params,
    ).fetchone()
    assert row is not None
    doc: dict[str, Any] = row[0][0]
    return doc["Plan"]


@pytest.mark.parametrize("statement", sorted(STATEMENTS))
def test_hot_statement_keeps_its_plan(state: tuple[psycopg.Connection[Any], State], statement: str) -> None:
    conn, s = state
    with conn.transaction(force_rollback=True):
        params = STATEMENTS[statement](conn, s)
        plan = _explain(conn, SQL_NAME.get(statement, statement), params)
    text = _describe(plan)
    on_jobs = [n for n in _nodes(plan) if n.get("Relation Name") == "jobs" and n.get("Schema") == "pgqueue"]
    for node in on_jobs:
        assert node["Node Type"] != "Seq Scan", f"{statement} scans pgqueue.jobs in state {s.name}:\n{text}"
    for node in _nodes(plan):
        removed = node.get("Rows Removed by Join Filter", 0)
        assert removed <= BATCH, f"{statement} filters {removed} joined rows in state {s.name}:\n{text}"
    if (statement, s.name) in UNBOUNDED_READS:
        return
    if statement == "next_due":  # index probes only, and the right answer
        assert all(n.get("Index Name") == "jobs_claim_idx" for n in on_jobs), text
    bound = BUFFERS_PER_ROW * BATCH + BUFFERS_SLACK
    for node in on_jobs:
        read = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
        assert read <= bound, f"{statement} reads {read} buffers of pgqueue.jobs in state {s.name}:\n{text}"


def _describe(plan: dict[str, Any], depth: int = 0) -> str:
    """The plan as an indented outline, for failure messages."""
    line = "  " * depth + plan["Node Type"]
    if "Relation Name" in plan:
        line += f" on {plan['Relation Name']}"
    if "Index Name" in plan:
        line += f" using {plan['Index Name']}"
    line += f" (rows={plan.get('Actual Rows')} loops={plan.get('Actual Loops')}"
    line += f" buffers={plan.get('Shared Hit Blocks', 0) + plan.get('Shared Read Blocks', 0)})"
    for key in ("Join Filter", "Rows Removed by Join Filter", "Rows Removed by Filter"):
        if key in plan:
            line += f" {key}: {str(plan[key])[:80]}"
    return "\n".join([line, *(_describe(c, depth + 1) for c in plan.get("Plans", []))])
