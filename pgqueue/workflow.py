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
(default) or run anyway (``on_dependency_failure="run"``). Retrying the failed job
(``job.retry()``, ``pgqueue jobs retry``) re-arms the dependents cancelled because of it,
down the chain (the trigger pgqueue.rearm_dependents, migration 0009).

Composing, as in Celery: ``a.s() | b.s()`` is a chain (``group | sig`` a chord);
``sig.link(cb)`` runs ``cb`` after ``sig`` succeeded, with its result; ``flow.link_error(eb)``
runs ``eb(job_id, error, *args)`` once, when the first job of the flow ends dead or
cancelled (and cancels it as not needed when all succeed); ``task.map(items)``,
``task.starmap(tuples)`` (one job calling the task per item) and ``task.chunks(tuples, n)``
(a group of such jobs). Everything is written in one transaction and enforced by triggers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TYPE_CHECKING, Any, Self

from . import _flow
from ._compat import unknown_names
from .errors import InvalidOption

if TYPE_CHECKING:
    from ._options import JobRef
    from ._types import AppLike, TaskLike
    from .job import Job

MAP_TASK = "pgqueue.map"
"""The built-in task behind ``task.map`` / ``starmap`` / ``chunks`` (registered on every App)."""

_SIGNATURE_OPTIONS = frozenset(
    {"queue", "priority", "delay", "run_at", "expires", "max_attempts", "tags", "serial_key",
     "unique_key", "on_dependency_failure"}
)
_CELERY_ALIASES = {"countdown": "delay", "eta": "run_at"}


class _Composable:
    """What every workflow element shares: callbacks, ``|``, and the ways to enqueue it.

    ``link``/``link_error`` add to the element in place and return it (as Celery's
    signatures are mutable; Celery's ``link`` returns the callback instead).
    """

    _links: list[Flow]
    _errbacks: list[Signature]

    def _init_callbacks(self) -> None:
        object.__setattr__(self, "_links", [])
        object.__setattr__(self, "_errbacks", [])

    def link(self, callback: Flow) -> Self:
        """Run ``callback`` after this element succeeded, receiving its result (a list for a
        group) like the next step of a chain; it is cancelled if this element fails. It is
        not part of this element's result."""
        if not isinstance(callback, Signature | group | chain | chord):
            raise InvalidOption(f"link takes a signature or workflow, got {callback!r}")
        self._links.append(callback)
        return self

    def link_error(self, errback: Signature) -> Self:
        """Run ``errback(job_id, error, *its args)`` once, when the first job of this element
        ends dead or cancelled (``error`` is that job's last_error). When every job of the
        element succeeds the errback ends ``cancelled`` as not needed. A Signature only."""
        if not isinstance(errback, Signature):
            raise InvalidOption(f"link_error takes a signature (task.s(...)), got {errback!r}")
        self._errbacks.append(errback)
        return self

    on_error = link_error
    """Celery's name for :meth:`link_error` on chains."""

    def __or__(self, other: Flow) -> chain | chord:
        """``a | b``: a chain (flattened); ``group | signature`` is a chord."""
        if not isinstance(other, Signature | group | chain | chord):
            return NotImplemented
        if isinstance(self, group) and isinstance(other, Signature) and not self._has_callbacks():
            return chord(self, other)
        left = list(self.steps) if isinstance(self, chain) and not self._has_callbacks() else [self]
        right = (list(other.steps) if isinstance(other, chain) and not other._has_callbacks()
                 else [other])
        return chain(*left, *right)

    def _has_callbacks(self) -> bool:
        return bool(self._links or self._errbacks)

    def enqueue(self, conn: Any = None) -> WorkflowHandle:
        """Write every job of the workflow in one transaction (the caller's with ``conn``)."""
        assert isinstance(self, Signature | group | chain | chord)
        return _enqueue(self, conn)


@dataclass(frozen=True)
class Signature(_Composable):
    """A task with its arguments, not yet enqueued (``task.s(...)`` / ``task.si(...)``)."""

    task: TaskLike
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    immutable: bool = False
    """True: ignore the previous step's result instead of receiving it."""
    options: dict[str, Any] = field(default_factory=dict)
    """Enqueue options (queue, priority, delay, run_at, expires, max_attempts, tags,
    serial_key, unique_key, on_dependency_failure)."""

    def __post_init__(self) -> None:
        self._init_callbacks()
        _check_signature_options(self.options)

    def set(self, **options: Any) -> Signature:
        """A copy with these enqueue options (Celery's ``countdown``/``eta`` are accepted as
        ``delay``/``run_at``); raises InvalidOption for an unknown one."""
        out = replace(self, options={**self.options, **_check_signature_options(options)})
        out._links.extend(self._links)
        out._errbacks.extend(self._errbacks)
        return out

    def delay(self, *args: Any, **kwargs: Any) -> Job:
        """Enqueue with ``args`` in front of the signature's own (Celery's partials) and
        ``kwargs`` merged over its own, with any link/link_error callbacks; returns the job."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        conn: Any = None,
        link: Flow | Sequence[Flow] | None = None,
        link_error: Signature | Sequence[Signature] | None = None,
        **options: Any,
    ) -> Job:
        """Like :meth:`delay`, with enqueue options (as :meth:`set`) and callbacks for this
        call only (``link``/``link_error``: one or a list); returns the job."""
        sig = self.set(**options)  # a copy: this call's arguments and callbacks stay off self
        if args or kwargs:
            sig = replace(sig, args=(*tuple(args or ()), *sig.args),
                          kwargs={**sig.kwargs, **(kwargs or {})})
            sig._links.extend(self._links)
            sig._errbacks.extend(self._errbacks)
        for callback in _one_or_many(link):
            sig.link(callback)
        for errback in _one_or_many(link_error):
            sig.link_error(errback)
        return sig.enqueue(conn).jobs[0]


@dataclass(frozen=True)
class group(_Composable):
    """Fan-out: the members run in parallel."""

    members: tuple[Any, ...]

    def __init__(self, *members: Any) -> None:
        if len(members) == 1 and not isinstance(members[0], Signature | group | chain | chord):
            members = tuple(members[0])
        if not members:
            raise InvalidOption("a group needs at least one member")
        object.__setattr__(self, "members", tuple(members))
        self._init_callbacks()

    def apply_async(self, conn: Any = None) -> WorkflowHandle:
        """Celery's name for :meth:`enqueue`."""
        return self.enqueue(conn)

    def delay(self) -> WorkflowHandle:
        return self.enqueue()


@dataclass(frozen=True)
class chain(_Composable):
    """Steps that run one after another, each receiving the previous result."""

    steps: tuple[Any, ...]

    def __init__(self, *steps: Any) -> None:
        if not steps:
            raise InvalidOption("a chain needs at least one step")
        object.__setattr__(self, "steps", tuple(steps))
        self._init_callbacks()

    def apply_async(self, conn: Any = None) -> WorkflowHandle:
        """Celery's name for :meth:`enqueue`."""
        return self.enqueue(conn)

    def delay(self) -> WorkflowHandle:
        return self.enqueue()


@dataclass(frozen=True)
class chord(_Composable):
    """Fan-out then fan-in: ``body`` receives the list of the group's results.

    ``chord(header, body, on_dependency_failure="run")`` runs the body even when members
    fail (their results are then null); the default ``"cancel"`` cancels it. Celery's
    ``chord(header)(body)`` enqueues at once.
    """

    header: group
    callback: Signature | None

    def __init__(
        self,
        header: group | Iterable[Signature],
        body: Signature | None = None,
        *,
        on_dependency_failure: str | None = None,
    ) -> None:
        if body is not None and on_dependency_failure is not None:
            body = body.set(on_dependency_failure=on_dependency_failure)
        object.__setattr__(self, "header", header if isinstance(header, group) else group(header))
        object.__setattr__(self, "callback", body)
        object.__setattr__(self, "_on_failure", on_dependency_failure)
        self._init_callbacks()

    @property
    def body(self) -> Signature | None:
        """Celery's name for the callback."""
        return self.callback

    def __call__(self, body: Signature, conn: Any = None) -> WorkflowHandle:
        """``chord(header)(body)``: enqueue with this body now."""
        full = chord(self.header, body, on_dependency_failure=getattr(self, "_on_failure", None))
        full._links.extend(self._links)
        full._errbacks.extend(self._errbacks)
        return full.enqueue(conn)

    def apply_async(self, conn: Any = None) -> WorkflowHandle:
        """Celery's name for :meth:`enqueue`."""
        return self.enqueue(conn)

    def delay(self) -> WorkflowHandle:
        return self.enqueue()


def _one_or_many(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _check_signature_options(options: dict[str, Any]) -> dict[str, Any]:
    for celery, native in _CELERY_ALIASES.items():
        if celery in options:
            options[native] = options.pop(celery)
    unknown = set(options) - _SIGNATURE_OPTIONS
    if unknown:
        raise InvalidOption(unknown_names("enqueue option", unknown, _SIGNATURE_OPTIONS))
    return options


def xmap(task: TaskLike, calls: Sequence[Sequence[Any]]) -> Signature:
    """One job (the built-in task ``pgqueue.map``, in ``task``'s queue) that calls ``task``
    once per argument tuple, in order; its result is the list of results. Immutable: in a
    chain it ignores the previous step's result."""
    for call in calls:
        task.check(call, {})
    runner = task.app.get_task(MAP_TASK)
    return Signature(
        runner, (task.name, [list(c) for c in calls]), {}, immutable=True,
        options={"queue": task.options.queue, "priority": task.options.priority},
    )


def chunks(task: TaskLike, items: Iterable[Sequence[Any]], n: int) -> group:
    """A group of :func:`xmap` jobs of ``n`` argument tuples each (the last may be shorter)."""
    if type(n) is not int or n < 1:
        raise InvalidOption(f"chunks needs a chunk size n >= 1, got {n!r}")
    it = iter(items)
    parts = []
    while part := list(islice(it, n)):
        parts.append(xmap(task, [tuple(c) for c in part]))
    if not parts:
        raise InvalidOption("chunks needs at least one item")
    return group(*parts)


Flow = Signature | group | chain | chord


class WorkflowHandle:
    """The jobs of an enqueued workflow; ``result()`` waits for its final step(s)."""

    def __init__(self, app: AppLike, jobs: list[Job], final: list[Job], many: bool) -> None:
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

    get = result
    """Celery's name for :meth:`result`."""


def enqueue_with_dependencies(
    app: AppLike, task: TaskLike, options: dict[str, Any], args: Sequence[Any],
    kwargs: dict[str, Any], depends_on: Sequence[JobRef | int], conn: Any,
) -> Job:
    """``task.configure(depends_on=[...]).enqueue(...)``; see :mod:`pgqueue._flow`."""
    return _flow.enqueue_with_dependencies(app, task, options, args, kwargs, depends_on, conn)


def _enqueue(flow: Flow, conn: Any) -> WorkflowHandle:
    nodes: list[_flow.Node] = []
    tails = _compile(flow, [], nodes)
    app, jobs = _flow.write(nodes, conn)
    many = isinstance(flow, group) or len(tails) > 1
    return WorkflowHandle(app, jobs, [jobs[t] for t in tails], many)


# --- compiling a flow into nodes, parents first (pgqueue._flow writes them) ------------------
def _compile(flow: Flow, parents: list[int], nodes: list[_flow.Node]) -> list[int]:
    """Append the flow's nodes (depending on ``parents``), then its callbacks: link ones
    depend on its tails, error ones on every job of it (except nested error callbacks,
    whose "not needed" cancellation is no failure). Return its tail node indexes."""
    start = len(nodes)
    tails = _compile_body(flow, parents, nodes)
    own = [i for i in range(start, len(nodes)) if nodes[i].mode != "error"]
    for callback in flow._links:
        _compile(callback, tails, nodes)
    for errback in flow._errbacks:
        nodes.append(_flow.Node(errback, own, "error"))
        _no_callbacks_on_errback(errback)
    return tails


def _no_callbacks_on_errback(errback: Signature) -> None:
    if errback._has_callbacks():
        raise InvalidOption("an error callback cannot have callbacks of its own")


def _compile_body(flow: Flow, parents: list[int], nodes: list[_flow.Node]) -> list[int]:
    if isinstance(flow, Signature):
        mode = None
        if parents and not flow.immutable:
            mode = "first" if len(parents) == 1 else "list"
        nodes.append(_flow.Node(flow, list(parents), mode))
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

