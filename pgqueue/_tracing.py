"""OpenTelemetry: a span for each enqueue and one for each attempt, in one trace.

``enqueue <task>`` (kind PRODUCER) wraps a single enqueue and stores its context (the
W3C ``traceparent``/``tracestate`` the global propagator writes) in the job's
``trace`` column, in the same INSERT. ``run <task>`` (kind CONSUMER) wraps each
attempt as its child, so one trace goes from the web request that enqueued a job to
the task that ran it, and spans the task opens nest under it. Bulk enqueues
(``enqueue_many``), workflows and cron ticks store no context: their attempts start
new traces.

Only ``opentelemetry-api`` is used (extra ``pgqueue[otel]``). Until the application
installs a TracerProvider (``opentelemetry-sdk``), pgqueue records nothing and stores
nothing, at the cost of one check per enqueue and per attempt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import class_row

from ._sql import query
from .errors import Snooze

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from .context import Context

log = logging.getLogger("pgqueue.worker")

TRACER_NAME = "pgqueue"
SYSTEM = "pgqueue"

_api: Any = None
"""The ``opentelemetry.trace`` module once imported, False when it is not installed."""
_provider: TracerProvider | None = None
"""A provider for pgqueue alone (tests); None uses the global one."""
RECHECK_S = 1.0
_on = False
_next_check = 0.0


def _trace() -> Any:
    global _api
    if _api is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _api = False
        else:
            _api = trace
    return _api


def enabled() -> bool:
    """True when opentelemetry-api is installed and a real TracerProvider is set.

    Called per enqueue and per attempt, so it is cheap: OpenTelemetry sets the global
    provider once for good, so a True answer is kept, and while there is none the
    provider is looked up at most every RECHECK_S (a provider installed after
    pgqueue's first enqueue is noticed within that time).
    """
    global _on, _next_check
    if _on or _provider is not None:
        return True
    now = time.monotonic()
    if now < _next_check:
        return False
    _next_check = now + RECHECK_S
    trace = _trace()
    if trace is False:
        return False
    _on = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _on


def _tracer() -> Tracer:
    from ._version import __version__

    trace = _trace()
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    tracer: Tracer = provider.get_tracer(TRACER_NAME, __version__)
    return tracer


_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


def enqueue_span(task: str, queue: str) -> contextlib.AbstractContextManager[Span | None]:
    """The producer span around one enqueue (None when tracing is off); set the job id
    on it with :func:`set_job_id` once it is known."""
    if not enabled():
        return _NO_SPAN
    return _enqueue_span(task, queue)


@contextlib.contextmanager
def _enqueue_span(task: str, queue: str) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    with _tracer().start_as_current_span(
        f"enqueue {task}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": SYSTEM,
            "messaging.operation.type": "send",
            "messaging.destination.name": queue,
            "pgqueue.task": task,
        },
    ) as span:
        yield span


def set_job_id(span: Span | None, job_id: int) -> None:
    if span is not None:
        span.set_attribute("messaging.message.id", str(job_id))


def carrier() -> str | None:
    """The current trace context as JSON text for the ``trace`` column, or None
    (tracing off, or no span is active)."""
    if not enabled():
        return None
    from opentelemetry import propagate

    found: dict[str, str] = {}
    propagate.inject(found)
    return json.dumps(found, separators=(",", ":")) if found else None


@dataclass(frozen=True, slots=True)
class TraceRow:
    """A row of trace_get.sql: a job's stored trace context (JSON, a dict when well formed)."""

    id: int
    trace: Any


def fetch(conn: psycopg.Connection[Any], ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Job id -> stored trace context, for jobs that have one (one query). A failed
    read is logged and gives no contexts: the jobs are already claimed and must run."""
    try:
        cur = conn.cursor(row_factory=class_row(TraceRow))
        rows = cur.execute(query("trace_get"), {"ids": list(ids)}).fetchall()
    except psycopg.Error as exc:
        log.warning("could not read the trace context of %s claimed job(s): %s", len(ids), exc)
        return {}
    return {r.id: r.trace for r in rows if isinstance(r.trace, dict)}


@contextlib.contextmanager
def attempt_span(ctx: Context, stored: dict[str, str] | None) -> Iterator[None]:
    """The consumer span around one attempt, child of the context ``stored`` at enqueue
    (a new trace without one).

    Used as the outermost middleware while tracing is on. An exception the task
    raises is recorded on the span (status ERROR) and re-raised; a Snooze is not an
    error.
    """
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, Status, StatusCode

    row = ctx.job.row
    parent = propagate.extract(stored) if stored else None
    with _tracer().start_as_current_span(
        f"run {row.task}",
        context=parent,
        kind=SpanKind.CONSUMER,
        record_exception=False,
        set_status_on_exception=False,
        attributes={
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": row.queue,
            "messaging.message.id": str(row.id),
            "pgqueue.task": row.task,
            "pgqueue.attempt": row.attempt,
        },
    ) as span:
        try:
            yield
        except BaseException as exc:
            if not isinstance(exc, Snooze):
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
