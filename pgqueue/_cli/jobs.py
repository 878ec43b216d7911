"""``pgqueue jobs ls|show|retry|cancel``; also the table/JSON rendering the ops areas share."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.table import Table

from .. import _admin
from ..app import App
from ..errors import JobNotFound
from . import common


@contextmanager
def open_app(ctx: typer.Context) -> Iterator[App]:
    """An App on the DSN the command line resolved, closed afterwards."""
    with App(dsn=common.state(ctx).resolve()) as app:
        yield app


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def emit_json(data: Any) -> None:
    """JSON on stdout: timestamps in ISO 8601, durations in seconds."""
    sys.stdout.write(json.dumps(data, default=_plain, indent=2) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A Rich table of ``columns`` (keys of each row) for people."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(_cell(row.get(c)) for c in columns))
    common.console.print(out)


LIST_COLUMNS = ("id", "queue", "task", "state", "attempt", "run_at", "finished_at", "last_error")


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Inspect and act on jobs.", no_args_is_help=True)
    app.add_typer(jobs, name="jobs")

    @jobs.command("ls")
    def ls(
        ctx: typer.Context,
        state: str | None = typer.Option(None, "--state", help="Only jobs in this state."),
        queue: str | None = typer.Option(None, "--queue", help="Only jobs of this queue."),
        task: str | None = typer.Option(None, "--task", help="Only jobs of this task."),
        limit: int = typer.Option(50, "--limit", help="At most this many (newest first)."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """List jobs, newest first."""
        with open_app(ctx) as pq:
            rows = _admin.list_jobs(pq, state=state, queue=queue, task=task, limit=limit)
        if as_json:
            emit_json(rows)
        else:
            table(f"{len(rows)} jobs", rows, LIST_COLUMNS)

    @jobs.command("show")
    def show(
        ctx: typer.Context,
        job_id: int = typer.Argument(..., help="The job's id."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Everything about one job: arguments, result, every error with its traceback.

        Exit 1 when the job does not exist.
        """
        with open_app(ctx) as pq:
            try:
                job = _admin.job_details(pq, job_id)
            except JobNotFound as exc:
                common.fail(str(exc))
        if as_json:
            emit_json(job)
            return
        errors = job.pop("errors", [])
        for key, value in job.items():
            shown = json.dumps(value) if isinstance(value, dict | list) else _cell(value)
            common.console.print(f"[bold]{key}[/bold]: {shown}", highlight=False)
        for i, err in enumerate(errors, 1):
            common.console.print(
                f"\n[bold red]error {i}[/bold red] (attempt {err.get('attempt')}, "
                f"{err.get('at')}): {err.get('type')}: {err.get('message')}",
                highlight=False,
            )
            if err.get("traceback"):
                common.console.print(err["traceback"], highlight=False, markup=False)

    @jobs.command("retry")
    def retry(
        ctx: typer.Context,
        ids: Annotated[list[int] | None, typer.Argument(help="Job ids to requeue.")] = None,
        state: str | None = typer.Option(
            None, "--state", help="Requeue every job in this state (dead or cancelled)."
        ),
        queue: str | None = typer.Option(None, "--queue", help="With --state: only this queue."),
        task: str | None = typer.Option(None, "--task", help="With --state: only this task."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Requeue dead or cancelled jobs to run now with their attempts reset.

        By id, or all of a state (optionally one queue/task). Exit 1 when a given id
        was not requeued (missing, or not dead/cancelled).
        """
        if not ids and state is None:
            common.fail("give job ids, or --state dead|cancelled to retry in bulk", 2)
        if ids and (state or queue or task):
            common.fail("give either job ids or --state/--queue/--task filters, not both", 2)
        with open_app(ctx) as pq:
            if ids:
                done = _admin.retry_jobs(pq, ids)
            else:
                assert state is not None
                done = _admin.retry_jobs(pq, states=[state], queue=queue, task=task)
        skipped = sorted(set(ids or ()) - set(done))
        if as_json:
            emit_json({"requeued": done, "skipped": skipped})
        else:
            common.console.print(f"requeued {len(done)} jobs: {_ids(done)}")
            if skipped:
                common.console_err.print(f"not requeued (missing or not finished): {_ids(skipped)}")
        if skipped:
            raise typer.Exit(1)

    @jobs.command("cancel")
    def cancel(
        ctx: typer.Context,
        ids: Annotated[list[int], typer.Argument(help="Job ids to cancel.")],
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Cancel jobs: queued ones at once, running ones through their worker.

        Exit 1 when an id does not exist.
        """
        with open_app(ctx) as pq:
            outcome = _admin.cancel_jobs(pq, ids)
        if as_json:
            emit_json(
                {
                    "cancelled": outcome.cancelled,
                    "requested": outcome.requested,
                    "unchanged": {str(k): v for k, v in outcome.unchanged.items()},
                    "missing": outcome.missing,
                }
            )
        else:
            common.console.print(f"cancelled: {_ids(outcome.cancelled)}")
            if outcome.requested:
                common.console.print(f"asked to stop (running): {_ids(outcome.requested)}")
            for job_id, st in outcome.unchanged.items():
                common.console.print(f"job {job_id} already {st}; left alone")
            if outcome.missing:
                common.console_err.print(f"no such job: {_ids(outcome.missing)}")
        if outcome.missing:
            raise typer.Exit(1)


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(map(str, ids)) or "none"
