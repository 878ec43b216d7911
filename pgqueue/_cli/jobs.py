"""``pgqueue jobs ls|show|enqueue|retry|cancel|delete``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer

from .. import _admin
from ..errors import InvalidOption, JobNotFound
from . import bulk, common, output
from .common import emit_json, open_app

LIST_COLUMNS = ("id", "queue", "task", "state", "attempt", "run_at", "finished_at", "last_error")
SHOW_ORDER = (
    "id", "task", "queue", "state", "attempt", "max_attempts", "priority", "tags",
    "created_at", "run_at", "started_at", "finished_at", "lease_expires_at", "worker_id",
    "args", "kwargs", "result", "last_error",
)  # fmt: skip
"""``jobs show`` fields in this order (what, where, when, then data); any other column
follows, ``errors`` last."""


def ordered(job: dict[str, Any]) -> dict[str, Any]:
    """``job`` with its keys in :data:`SHOW_ORDER`, unknown ones after, ``errors`` last."""
    head = {k: job[k] for k in SHOW_ORDER if k in job}
    rest = {k: v for k, v in job.items() if k not in head and k != "errors"}
    return {**head, **rest, **({"errors": job["errors"]} if "errors" in job else {})}


def show_job(job: dict[str, Any]) -> None:
    """``jobs show`` for people: one ``key: value`` line each, then every error with its
    traceback, all printed literally."""
    job = ordered(job)
    errors = job.pop("errors", None) or []
    for key, value in job.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        output.line((key, "bold"), ": ", output.text(shown))
    for i, err in enumerate(errors, 1):
        output.line()
        output.line(
            (f"error {i}", "bold red"),
            f" (attempt {err.get('attempt')}, {err.get('at')}): {err.get('type')}: {err.get('message')}",
        )
        if err.get("traceback"):
            output.block(err["traceback"])


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Inspect and act on jobs.", no_args_is_help=True)
    app.add_typer(jobs, name="jobs")

    @jobs.command("ls")
    def ls(
        ctx: typer.Context,
        state: str | None = typer.Option(
            None, "--state", help="Only jobs in this state (or scheduled: queued, due later)."
        ),
        queue: str | None = typer.Option(None, "--queue", help="Only jobs of this queue."),
        task: str | None = typer.Option(None, "--task", help="Only jobs of this task."),
        tag: str | None = typer.Option(None, "--tag", help="Only jobs with this tag."),
        older_than: str | None = typer.Option(
            None, "--older-than", help="Only jobs finished (else created) longer ago, e.g. 7d."
        ),
        limit: int = typer.Option(50, "--limit", help="At most this many (newest first)."),
        show_all: bool = typer.Option(False, "--all", help="Every matching job (no limit)."),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """List jobs, newest first; says so when more match than are shown."""
        where = bulk.job_filter(queue, state, task, tag, older_than)
        with open_app(ctx) as pq:
            rows = _admin.list_jobs(
                pq, state=where.state, queue=queue, task=task, tag=tag,
                older_than=where.older_than, limit=None if show_all else limit,
            )  # fmt: skip
            total = _admin.count_jobs(pq, where) if not show_all and len(rows) >= limit else len(rows)
        if as_json:
            emit_json(rows)
        else:
            output.table(f"{len(rows)} jobs", rows, LIST_COLUMNS)
        if total > len(rows):
            more = f"{total:,}+" if total >= _admin.jobs.COUNT_CAP else f"{total:,}"
            output.line(f"showing {len(rows):,} of {more} jobs; use --limit N or --all for more", err=True)

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
            emit_json(ordered(job))
        else:
            show_job(job)

    @jobs.command("enqueue")
    def enqueue(
        ctx: typer.Context,
        task: str = typer.Argument(..., help="The task's name (module.function unless name= was given)."),
        args: str = typer.Option("[]", "--args", help="Positional arguments as a JSON array."),
        kwargs: str = typer.Option("{}", "--kwargs", help="Keyword arguments as a JSON object."),
        queue: str | None = typer.Option(None, "--queue", help="Queue (default: the task's or 'default')."),
        priority: int | None = typer.Option(None, "--priority", help="Higher runs first (HIGH=10, LOW=-10)."),
        delay: str | None = typer.Option(None, "--delay", help="Run after this long, e.g. 30s, 5m."),
        app_spec: str | None = typer.Option(
            None, "--app", "-a", envvar="PGQUEUE_APP",
            help="module:attribute of your pgqueue.App, to check the task's signature and use its defaults.",
        ),
        as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
    ) -> None:
        """Enqueue one job by task name, validated as in Python (name, JSON, size, options)."""
        parsed_args = _json_arg("--args", args, list)
        parsed_kwargs = _json_arg("--kwargs", kwargs, dict)
        options: dict[str, Any] = {}
        if queue is not None:
            options["queue"] = queue
        if priority is not None:
            options["priority"] = priority
        if delay is not None:
            options["delay"] = _admin.parse_duration(delay)
        from ..app import App
        from .work import load_app

        user_app = load_app(app_spec) if app_spec else None
        dsn = common.checked_dsn(ctx)
        settings = user_app.settings if isinstance(user_app, App) else None
        with App(dsn=dsn, settings=settings) as pq:
            if isinstance(user_app, App):
                # Its tasks' defaults and signature checks; other names are refused.
                pq.tasks.update(user_app.tasks)
                pq.strict = True
            job = pq.enqueue(task, parsed_args, parsed_kwargs, **options)
            row = job.refresh().row
        out = {"id": job.id, "task": row.task, "queue": row.queue, "priority": row.priority,
               "run_at": row.run_at, "state": str(row.state)}  # fmt: skip
        if as_json:
            emit_json(out)
        else:
            output.line(f"enqueued job {job.id}: {row.task} on queue {row.queue}, run at ",
                        output.text(row.run_at))

    for action in ("retry", "cancel", "delete"):
        bulk.register_action(jobs, action)


def _json_arg(option: str, text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidOption(f"{option} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, kind):
        expected = "array, e.g. '[42, \"x\"]'" if kind is list else "object, e.g. '{\"user_id\": 42}'"
        raise InvalidOption(f"{option} must be a JSON {expected}")
    return value


def ids_text(ids: Sequence[int]) -> str:
    return ", ".join(map(str, ids)) or "none"
