"""Writing workflows: compiling a flow into job rows and dependency edges, in one transaction.

The public elements live in :mod:`pgqueue.workflow`, which compiles a flow into
:class:`Node` s (parents first) and hands them to :func:`write`; the database enforces what is written
here (release, cancellation, error callbacks and re-arming: migrations 0003 and 0009).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from psycopg.rows import class_row, scalar_row

from . import _conn
from . import _enqueue as enq
from ._options import EnqueueOptions, JobRef
from ._sql import query
from .errors import InvalidOption, JobNotFound
from .job import Job

if TYPE_CHECKING:
    from ._types import AppLike, TaskLike

DEPENDENCY_FAILURE = ("cancel", "run")


class Step(Protocol):
    """One job of a workflow as it is written (a :class:`pgqueue.workflow.Signature`)."""

    @property
    def task(self) -> TaskLike: ...
    @property
    def args(self) -> tuple[Any, ...]: ...
    @property
    def kwargs(self) -> dict[str, Any]: ...
    @property
    def options(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Step:
    task: TaskLike
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]


@dataclass
class Node:
    """A step, the indexes of the nodes it waits for, and how it receives their results
    (None: ignores them; "first": the one parent's result; "list": all; "error": an errback)."""

    sig: Step
    parents: list[int]
    mode: str | None


def _app_of(nodes: list[Node]) -> AppLike:
    apps = {id(n.sig.task.app): n.sig.task.app for n in nodes}
    if len(apps) != 1:
        raise InvalidOption("all tasks of a workflow must belong to the same App")
    return next(iter(apps.values()))


def write(nodes: list[Node], conn: Any) -> tuple[AppLike, list[Job]]:
    """Write the compiled ``nodes`` (a workflow, parents before children) in one transaction
    (the caller's with ``conn``); their app and one job handle per node, in order."""
    app = _app_of(nodes)
    has_children = {p for n in nodes for p in n.parents}
    rows = [_row(app, n, i in has_children) for i, n in enumerate(nodes)]
    ids = _write(app, conn, rows, nodes, external=[])
    return app, [Job(app, i) for i in ids]


def _row(app: AppLike, node: Node, has_dependents: bool, external: int = 0) -> dict[str, Any]:
    options = dict(node.sig.options)
    on_failure = options.pop("on_dependency_failure", None) or "cancel"
    if on_failure not in DEPENDENCY_FAILURE:
        raise InvalidOption(f"on_dependency_failure must be 'cancel' or 'run', got {on_failure!r}")
    row = enq.build_row(
        app, node.sig.task.options, EnqueueOptions(**options), node.sig.args, node.sig.kwargs
    )
    pending = len(node.parents) + external
    row.update(
        state="waiting" if pending else "queued",
        last_error=None,
        has_dependents=has_dependents,
        pending=pending,
        on_dependency_failure=on_failure,
        dependency_args=node.mode,
    )
    return row


def _write(
    app: AppLike, conn: Any, rows: list[dict[str, Any]], nodes: list[Node], external: list[int]
) -> list[int]:
    with _conn.transaction(app, conn) as pg:
        # scalar_row: the caller's connection may have a row factory of its own.
        with pg.cursor(row_factory=scalar_row) as cur:
            cur.executemany(query("flow_insert"), rows, returning=True)
            ids: list[int] = []
            while True:
                found = cur.fetchone()
                assert found is not None
                ids.append(found)
                if not cur.nextset():
                    break
            edges = [(ids[i], ids[p], pos) for i, n in enumerate(nodes) for pos, p in enumerate(n.parents)]
            if edges:
                cur.execute(
                    query("flow_edges"),
                    {
                        "job_ids": [e[0] for e in edges],
                        "parent_ids": [e[1] for e in edges],
                        "positions": [e[2] for e in edges],
                    },
                )
    return ids


@dataclass(frozen=True, slots=True)
class ParentRow:
    """A row of flow_mark_parents.sql: a parent job, now marked as having dependents."""

    id: int
    state: str


def enqueue_with_dependencies(
    app: AppLike, task: TaskLike, options: dict[str, Any], args: Sequence[Any],
    kwargs: dict[str, Any], depends_on: Sequence[JobRef | int], conn: Any,
) -> Job:
    """``task.configure(depends_on=[...]).enqueue(...)``: wait for existing jobs.

    The parents are row-locked until commit, so none can finish unnoticed in
    between. Parents that already succeeded count as done; parents already
    ``dead``/``cancelled`` cancel the new job at once unless
    ``on_dependency_failure="run"``. Raises JobNotFound for an unknown parent.
    """
    parent_ids = sorted({p if isinstance(p, int) else p.id for p in depends_on})
    node = Node(_Step(task, tuple(args), dict(kwargs), dict(options)), [], None)
    with _conn.transaction(app, conn) as pg:
        cur = pg.cursor(row_factory=class_row(ParentRow))
        states = {r.id: r.state for r in cur.execute(query("flow_mark_parents"), {"ids": parent_ids})}
        missing = [p for p in parent_ids if p not in states]
        if missing:
            raise JobNotFound(f"depends_on names jobs that do not exist: {missing}")
        row = _row(app, node, False)
        failed = [p for p, s in states.items() if s in ("dead", "cancelled")]
        pending = [p for p, s in states.items() if s not in ("succeeded", "dead", "cancelled")]
        if row["on_dependency_failure"] == "run":
            pending_count = len(pending)
        else:
            pending_count = len(pending)
            if failed:
                row.update(state="cancelled", last_error=f"dependency {failed[0]} ended {states[failed[0]]}")
                pending_count = 0
        if row["state"] != "cancelled":
            row.update(state="waiting" if pending_count else "queued")
        row["pending"] = pending_count
        job_id = pg.cursor(row_factory=scalar_row).execute(query("flow_insert"), row).fetchone()
        assert job_id is not None
        if pending:
            pg.execute(
                query("flow_edges"),
                {"job_ids": [job_id] * len(pending), "parent_ids": pending,
                 "positions": list(range(len(pending)))},
            )
    return Job(app, job_id)
