"""Writing workflows: compiling a flow into job rows and dependency edges, in one transaction.

The public elements live in :mod:`pgqueue.workflow`; the database enforces what is written
here (release, cancellation, error callbacks and re-arming: migrations 0003 and 0009).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _conn
from ._sql import query
from .errors import InvalidOption, JobNotFound
from .workflow import DEPENDENCY_FAILURE, Flow, Signature, WorkflowHandle, chain, chord, group

if TYPE_CHECKING:
    from .app import App
    from .job import Job
    from .task import Task


@dataclass
class _Node:
    sig: Signature
    parents: list[int]
    mode: str | None


def _compile(flow: Flow, parents: list[int], nodes: list[_Node]) -> list[int]:
    """Append the flow's nodes (depending on ``parents``), then its callbacks: link ones
    depend on its tails, error ones on every job of it (except nested error callbacks,
    whose "not needed" cancellation is no failure). Return its tail node indexes."""
    start = len(nodes)
    tails = _compile_body(flow, parents, nodes)
    own = [i for i in range(start, len(nodes)) if nodes[i].mode != "error"]
    for callback in flow._links:
        _compile(callback, tails, nodes)
    for errback in flow._errbacks:
        nodes.append(_Node(errback, own, "error"))
        _no_callbacks_on_errback(errback)
    return tails


def _no_callbacks_on_errback(errback: Signature) -> None:
    if errback._has_callbacks():
        raise InvalidOption("an error callback cannot have callbacks of its own")


def _compile_body(flow: Flow, parents: list[int], nodes: list[_Node]) -> list[int]:
    if isinstance(flow, Signature):
        mode = None
        if parents and not flow.immutable:
            mode = "first" if len(parents) == 1 else "list"
        nodes.append(_Node(flow, list(parents), mode))
        return [len(nodes) - 1]
    if isinstance(flow, group):
        tails: list[int] = []
        for member in flow.members:
            tails.extend(_compile(member, parents, nodes))
        return tails
    if isinstance(flow, chain):
        tails = list(parents)
        for step in flow.steps:
            tails = _compile(step, tails, nodes)
        return tails
    if isinstance(flow, chord):
        if flow.callback is None:
            raise InvalidOption("this chord has no body: chord(header, body) or chord(header)(body)")
        tails = _compile(flow.header, parents, nodes)
        body = len(nodes)
        out = _compile(flow.callback, tails, nodes)
        if nodes[body].mode is not None:  # the list of results, even from one member
            nodes[body].mode = "list"
        return out
    raise InvalidOption(f"not a workflow element: {flow!r} (use task.s(...), group, chain, chord)")


def _app_of(nodes: list[_Node]) -> App:
    apps = {id(n.sig.task.app): n.sig.task.app for n in nodes}
    if len(apps) != 1:
        raise InvalidOption("all tasks of a workflow must belong to the same App")
    return next(iter(apps.values()))


def enqueue(flow: Flow, conn: Any) -> WorkflowHandle:
    from .job import Job

    nodes: list[_Node] = []
    tails = _compile(flow, [], nodes)
    app = _app_of(nodes)
    has_children = {p for n in nodes for p in n.parents}
    rows = [_row(app, n, i in has_children) for i, n in enumerate(nodes)]
    ids = _write(app, conn, rows, nodes, external=[])
    jobs = [Job(app, i) for i in ids]
    many = isinstance(flow, group) or len(tails) > 1
    return WorkflowHandle(app, jobs, [jobs[t] for t in tails], many)


def _row(app: App, node: _Node, has_dependents: bool, external: int = 0) -> dict[str, Any]:
    from . import _enqueue as enq
    from .task import EnqueueOptions

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
    app: App, conn: Any, rows: list[dict[str, Any]], nodes: list[_Node], external: list[int]
) -> list[int]:
    with _conn.transaction(app, conn) as pg:
        with pg.cursor() as cur:
            cur.executemany(query("flow_insert"), rows, returning=True)
            ids: list[int] = []
            while True:
                found = cur.fetchone()
                assert found is not None
                ids.append(found[0])
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


def enqueue_with_dependencies(
    app: App, task: Task[Any, Any], options: dict[str, Any], args: Sequence[Any],
    kwargs: dict[str, Any], depends_on: Sequence[Job | int], conn: Any,
) -> Job:
    """``task.configure(depends_on=[...]).enqueue(...)``: wait for existing jobs.

    The parents are row-locked until commit, so none can finish unnoticed in
    between. Parents that already succeeded count as done; parents already
    ``dead``/``cancelled`` cancel the new job at once unless
    ``on_dependency_failure="run"``. Raises JobNotFound for an unknown parent.
    """
    from .job import Job

    parent_ids = sorted({p if isinstance(p, int) else p.id for p in depends_on})
    sig = Signature(task, tuple(args), dict(kwargs), immutable=True, options=dict(options))
    node = _Node(sig, [], None)
    with _conn.transaction(app, conn) as pg:
        states = dict(pg.execute(query("flow_mark_parents"), {"ids": parent_ids}).fetchall())
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
        inserted = pg.execute(query("flow_insert"), row).fetchone()
        assert inserted is not None
        job_id = inserted[0]
        if pending:
            pg.execute(
                query("flow_edges"),
                {"job_ids": [job_id] * len(pending), "parent_ids": pending,
                 "positions": list(range(len(pending)))},
            )
    return Job(app, job_id)
