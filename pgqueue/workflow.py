"""Workflows in the database: chains, groups, chords and general dependencies.

Every job of a workflow is written in one transaction (the caller's, with
``conn=``). Jobs waiting for others are in state ``waiting``; a trigger in the
database releases them (``queued``, with a wake-up) in the same transaction that
finishes their last dependency, so a workflow survives any worker dying.

- ``chain(a.s(1), b.s(), c.s())``: each step starts after the previous one
  succeeded and receives its result as first argument (``.si()`` ignores it).
- ``group(a.s(i) for i in ...)``: fan-out; its result is the list of results.
- ``chord(group, callback.s())``: the callback receives the members' results, in
  order, once all of them succeeded.

When a dependency ends ``dead`` or ``cancelled`` its dependents are cancelled
(default) or run anyway (``on_dependency_failure="run"``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import _conn
from ._sql import query
from .errors import InvalidOption, JobNotFound

if TYPE_CHECKING:
    from .app import App
    from .job import Job
    from .task import Task

DEPENDENCY_FAILURE = ("cancel", "run")


@dataclass(frozen=True)
class Signature:
    """A task with its arguments, not yet enqueued (``task.s(...)`` / ``task.si(...)``)."""

    task: Task[Any, Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    immutable: bool = False
    """True: ignore the previous step's result instead of receiving it."""
    options: dict[str, Any] = field(default_factory=dict)
    """Enqueue options (queue, priority, delay, max_attempts, tags, on_dependency_failure)."""

    def set(self, **options: Any) -> Signature:
        """A copy with these enqueue options."""
        return replace(self, options={**self.options, **options})

    def enqueue(self, conn: Any = None) -> WorkflowHandle:
        return _enqueue(self, conn)


@dataclass(frozen=True)
class group:
    """Fan-out: the members run in parallel."""

    members: tuple[Any, ...]

    def __init__(self, *members: Any) -> None:
        if len(members) == 1 and not isinstance(members[0], Signature | group | chain | chord):
            members = tuple(members[0])
        if not members:
            raise InvalidOption("a group needs at least one member")
        object.__setattr__(self, "members", tuple(members))

    def enqueue(self, conn: Any = None) -> WorkflowHandle:
        return _enqueue(self, conn)


@dataclass(frozen=True)
class chain:
    """Steps that run one after another, each receiving the previous result."""

    steps: tuple[Any, ...]

    def __init__(self, *steps: Any) -> None:
        if not steps:
            raise InvalidOption("a chain needs at least one step")
        object.__setattr__(self, "steps", tuple(steps))

    def enqueue(self, conn: Any = None) -> WorkflowHandle:
        return _enqueue(self, conn)


@dataclass(frozen=True)
class chord:
    """Fan-out then fan-in: ``callback`` receives the list of the group's results."""

    header: group
    callback: Signature

    def __init__(self, header: group | Iterable[Signature], callback: Signature) -> None:
        object.__setattr__(self, "header", header if isinstance(header, group) else group(header))
        object.__setattr__(self, "callback", callback)

    def enqueue(self, conn: Any = None) -> WorkflowHandle:
        return _enqueue(self, conn)


Flow = Signature | group | chain | chord


class WorkflowHandle:
    """The jobs of an enqueued workflow; ``result()`` waits for its final step(s)."""

    def __init__(self, app: App, jobs: list[Job], final: list[Job], many: bool) -> None:
        self.app = app
        self.jobs = jobs
        self.final = final
        self._many = many

    def __repr__(self) -> str:
        return f"<Workflow {len(self.jobs)} jobs, final {[j.id for j in self.final]}>"

    def result(self, timeout: float | None = None) -> Any:
        """The final step's result (a list for a bare group); raises JobFailed/TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        results = []
        for job in self.final:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            results.append(job.result(timeout=left))
        return results if self._many else results[0]


@dataclass
class _Node:
    sig: Signature
    parents: list[int]
    mode: str | None


def _compile(flow: Flow, parents: list[int], nodes: list[_Node]) -> list[int]:
    """Append the flow's nodes (depending on ``parents``); return its tail node indexes."""
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
        return _compile(chain(flow.header, flow.callback), parents, nodes)
    raise InvalidOption(f"not a workflow element: {flow!r} (use task.s(...), group, chain, chord)")


def _app_of(nodes: list[_Node]) -> App:
    apps = {id(n.sig.task.app): n.sig.task.app for n in nodes}
    if len(apps) != 1:
        raise InvalidOption("all tasks of a workflow must belong to the same App")
    return next(iter(apps.values()))


def _enqueue(flow: Flow, conn: Any) -> WorkflowHandle:
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
    on_failure = options.pop("on_dependency_failure", "cancel")
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
