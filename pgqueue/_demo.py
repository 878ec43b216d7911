"""``pgqueue demo``: a worker processing real jobs on the default database, zero config.

It migrates the schema, registers a few sample tasks (one with a result, one that
fails transiently and retries, one that always fails and ends dead, urgent ones at
high priority, an async one), enqueues a few hundred jobs, runs a worker with a
live progress display until the queue is drained, and prints a summary plus the
SQL to inspect what happened. Demo jobs carry the tag ``pgqueue-demo``; a new run
first deletes the previous run's demo jobs (and nothing else).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import class_row
from rich.console import Console
from rich.live import Live
from rich.table import Table

from . import _dsn, _embedded, _migrate
from ._settings import HIGH, LOW
from ._worker import Worker
from ._worker.events import WorkerEvent
from .app import App

TAG = "pgqueue-demo"
QUEUES = ("demo", "demo.urgent")


@dataclass
class _Progress:
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def on_event(self, event: WorkerEvent) -> None:
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1

    def finished(self) -> int:
        return self.counts.get("succeeded", 0) + self.counts.get("dead", 0)

    def table(self) -> Table:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        table = Table(title=f"pgqueue demo: {self.finished()}/{self.total} jobs finished")
        for col in ("claimed", "succeeded", "retry", "dead", "jobs/s"):
            table.add_column(col, justify="right")
        table.add_row(
            *(str(self.counts.get(k, 0)) for k in ("claimed", "succeeded", "retry", "dead")),
            f"{self.finished() / elapsed:,.0f}",
        )
        return table


def build_app(dsn: str) -> App:
    """The demo's app and its sample tasks."""
    app = App(dsn=dsn)

    @app.task(name="demo.resize_image", queue="demo")
    def resize_image(image_id: int, width: int) -> dict[str, int]:
        time.sleep(0.002)
        return {"image_id": image_id, "width": width, "bytes": width * 97}

    @app.task(name="demo.send_email", queue="demo", max_attempts=4, backoff_base=0.2,
              bind=True)
    def send_email(ctx: Any, user_id: int) -> str:
        # Transient failure: every third user's mail server is "busy" on the first try.
        if user_id % 3 == 0 and ctx.attempt == 1:
            raise ConnectionError(f"SMTP server busy for user {user_id}")
        return f"sent to user {user_id}"

    @app.task(name="demo.charge_card", queue="demo", max_attempts=2, backoff_base=0.2)
    def charge_card(order_id: int) -> None:
        raise ValueError(f"card declined for order {order_id}")

    @app.task(name="demo.page_oncall", queue="demo.urgent", priority=HIGH)
    def page_oncall(incident: int) -> str:
        return f"paged for incident {incident}"

    @app.task(name="demo.build_report", queue="demo", priority=LOW)
    async def build_report(month: int) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"month": month, "rows": month * 100}

    return app


def enqueue_jobs(app: App, jobs: int) -> int:
    """Enqueue about ``jobs`` sample jobs in bulk; return how many were written."""
    rng = random.Random(7)
    resize = app.get_task("demo.resize_image").configure(tags=[TAG])
    email = app.get_task("demo.send_email").configure(tags=[TAG])
    charge = app.get_task("demo.charge_card").configure(tags=[TAG])
    page = app.get_task("demo.page_oncall").configure(tags=[TAG])
    report = app.get_task("demo.build_report").configure(tags=[TAG])
    n = max(jobs, 20)
    written = 0
    written += len(resize.enqueue_many([(i, rng.choice([320, 640, 1280])) for i in range(n // 2)]))
    written += len(email.enqueue_many([(i,) for i in range(n // 4)]))
    written += len(report.enqueue_many([(m,) for m in range(1, n // 10 + 1)]))
    written += len(page.enqueue_many([(i,) for i in range(n // 20)]))
    written += len(charge.enqueue_many([(i,) for i in range(3)]))
    return written


def _clear_previous(app: App) -> None:
    with app.pool.connection() as conn:
        conn.execute("DELETE FROM pgqueue.jobs WHERE %(tag)s = ANY(tags)", {"tag": TAG})


@dataclass(frozen=True, slots=True)
class _SummaryRow:
    """Demo jobs in one state."""

    state: str
    jobs: int
    errored: int
    """Of those, the ones that failed at least once."""


def _summary(app: App) -> list[_SummaryRow]:
    with app.pool.connection() as conn, conn.cursor(row_factory=class_row(_SummaryRow)) as cur:
        rows: list[_SummaryRow] = cur.execute(
            "SELECT state, count(*) AS jobs,"
            " count(*) FILTER (WHERE jsonb_array_length(errors) > 0) AS errored"
            " FROM pgqueue.jobs WHERE %(tag)s = ANY(tags) GROUP BY state ORDER BY state",
            {"tag": TAG},
        ).fetchall()
    return rows


INSPECT_SQL = """\
SELECT * FROM pgqueue.queue_stats WHERE queue LIKE 'demo%';
SELECT id, task, attempt, last_error FROM pgqueue.jobs WHERE state = 'dead';
SELECT id, task, result FROM pgqueue.jobs WHERE task = 'demo.build_report' LIMIT 5;"""


def run(dsn: str, *, jobs: int = 300, concurrency: int = 8, console: Console | None = None) -> int:
    """Run the demo end to end; return 0 when every job reached a final state."""
    out = console or Console()
    out.print("[bold]pgqueue demo[/bold] on ", end="")
    out.print(_dsn.redact(dsn), markup=False, highlight=False)
    _migrate.upgrade(dsn)
    with build_app(dsn) as app:
        _clear_previous(app)
        total = enqueue_jobs(app, jobs)
        out.print(f"enqueued {total} jobs in queues {', '.join(QUEUES)}")
        progress = _Progress(total)
        worker = Worker(app, queues=QUEUES, concurrency=concurrency, stop_when_idle=True,
                        on_event=progress.on_event, poll_interval=0.5)
        worker.start()
        with Live(progress.table(), console=out, refresh_per_second=8) as live:
            while worker.stopping is False and progress.finished() < total:
                live.update(progress.table())
                time.sleep(0.1)
            live.update(progress.table())
        elapsed = time.monotonic() - progress.started
        worker.stop(timeout=10)
        summary = _summary(app)
    out.print()
    table = Table(title="summary")
    for col in ("state", "jobs", "with retried errors"):
        table.add_column(col)
    for row in summary:
        table.add_row(row.state, str(row.jobs), str(row.errored))
    out.print(table)
    done = sum(r.jobs for r in summary if r.state in ("succeeded", "dead"))
    retried = sum(r.errored for r in summary if r.state == "succeeded")
    out.print(
        f"{done} jobs finished in {elapsed:.1f}s ({done / max(elapsed, 1e-6):,.0f} jobs/s); "
        f"{retried} succeeded after a retry, "
        f"{sum(r.jobs for r in summary if r.state == 'dead')} dead (kept for review)."
    )
    embedded = _embedded.url() == dsn
    target = '"$(pgqueue db url)"' if embedded else f"'{_dsn.redact(dsn)}'"
    out.print(f"Inspect them with plain SQL: psql {target}", markup=False, highlight=False)
    out.print(INSPECT_SQL, markup=False, highlight=False)
    if embedded:
        out.print(
            f"The embedded server keeps running (data in {_embedded.home()}) so that you can "
            "look; stop it with: pgqueue db stop",
            markup=False,
            highlight=False,
        )
    return 0 if done == total else 1
