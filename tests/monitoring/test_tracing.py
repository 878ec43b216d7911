"""OpenTelemetry: one trace from the enqueuing request to the task, via the job row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import pgqueue
import pgqueue.testing
from pgqueue import _tracing


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """An SDK provider for pgqueue alone (the global one is left untouched)."""
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_tracing, "_provider", tp)
    yield tp, exporter
    tp.shutdown()


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def test_one_trace_crosses_from_enqueue_to_execution(
    dsn: str, conn: psycopg.Connection, provider: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    tp, exporter = provider
    web = tp.get_tracer("web")
    app = pgqueue.App(dsn=dsn)

    @app.task(name="t.sync")
    def sync_task(n: int) -> int:
        with web.start_as_current_span("inside sync"):
            return n

    @app.task(name="t.async")
    async def async_task(n: int) -> int:
        with web.start_as_current_span("inside async"):
            await asyncio.sleep(0)
            return n

    @app.task(name="t.fails", max_attempts=1)
    def fails() -> None:
        raise ValueError("broken")

    with web.start_as_current_span("POST /signup") as request:
        sync_job = sync_task.enqueue(1)
        async_job = asyncio.run(async_task.enqueue_async(2))
        failing = fails.enqueue()
    untraced = sync_task.enqueue(3)  # no span active: still a producer span, a new trace

    stored = conn.execute("SELECT trace FROM pgqueue.jobs WHERE id = %s", (sync_job.id,)).fetchone()
    assert stored is not None and stored[0]["traceparent"].startswith("00-")
    trace_id = request.get_span_context().trace_id
    assert f"{trace_id:032x}" in stored[0]["traceparent"]

    worker = pgqueue.Worker(app, concurrency=3)
    worker.start()
    try:
        assert sync_job.result(timeout=20) == 1
        assert async_job.result(timeout=20) == 2
        assert untraced.result(timeout=20) == 3
        with pytest.raises(pgqueue.JobFailed):
            failing.result(timeout=20)
    finally:
        worker.stop(timeout=5)
        app.close()

    spans = exporter.get_finished_spans()
    for task, inner, job in (("t.sync", "inside sync", sync_job), ("t.async", "inside async", async_job)):
        (enqueue,) = [s for s in by_name(spans, f"enqueue {task}") if s.attributes
                      and s.attributes["messaging.message.id"] == str(job.id)]
        (run,) = [s for s in by_name(spans, f"run {task}") if s.attributes
                  and s.attributes["messaging.message.id"] == str(job.id)]
        (inside,) = [s for s in by_name(spans, inner) if s.context.trace_id == trace_id]
        # One trace: request -> enqueue -> run -> the task's own span.
        assert {enqueue.context.trace_id, run.context.trace_id, inside.context.trace_id} == {trace_id}
        assert enqueue.parent is not None and enqueue.parent.span_id == request.get_span_context().span_id
        assert run.parent is not None and run.parent.span_id == enqueue.context.span_id
        assert inside.parent is not None and inside.parent.span_id == run.context.span_id
        assert enqueue.kind is SpanKind.PRODUCER and run.kind is SpanKind.CONSUMER
        assert run.attributes is not None
        assert run.attributes["messaging.system"] == "pgqueue"
        assert run.attributes["messaging.destination.name"] == "default"
        assert run.attributes["pgqueue.attempt"] == 1

    (failed_run,) = by_name(spans, "run t.fails")
    assert failed_run.context.trace_id == trace_id
    assert failed_run.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed_run.events] == ["exception"]

    untraced_runs = [s for s in by_name(spans, "run t.sync") if s.context.trace_id != trace_id]
    assert len(untraced_runs) == 1 and untraced_runs[0].parent is not None  # child of its enqueue


def test_tracing_off_stores_nothing(dsn: str, conn: psycopg.Connection) -> None:
    assert not _tracing.enabled()  # no SDK provider installed in this process
    app = pgqueue.App(dsn=dsn)

    @app.task(name="t.plain")
    def plain() -> str:
        return "ok"

    job = plain.enqueue()
    pgqueue.testing.drain(app)
    assert job.result(timeout=0) == "ok"
    assert conn.execute("SELECT trace FROM pgqueue.jobs WHERE id = %s", (job.id,)).fetchone() == (None,)
    app.close()
