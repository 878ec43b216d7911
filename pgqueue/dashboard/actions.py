"""The dashboard's buttons: each POST calls the same function as the CLI, then
redirects (303) back to the page it came from with a one-line message.

Every form carries the CSRF token; :mod:`.security` has already refused the
request in read-only mode, without authentication, or from another origin.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .._admin import Queues, cancel_jobs, retry_jobs
from .._admin.bulk import delete_batch, run_bulk
from .._admin.jobs import JobFilter
from .._admin.workers import list_tasks
from .._durations import parse_duration
from .._maintenance import cron
from ..errors import InvalidOption, PgQueueError, UnknownTask
from ..job import JobState
from .security import token_ok

Action = Callable[[Any, FormData, dict[str, Any]], str]
"""(pgqueue App, submitted form, path parameters) -> the message to show."""


def _ids(form: FormData) -> list[int]:
    out = []
    for value in form.getlist("id"):
        if not isinstance(value, str) or not value.strip().isdigit():
            raise InvalidOption(f"job id {value!r} is not a number")
        out.append(int(value))
    if not out:
        raise InvalidOption("select at least one job")
    return out


def _next(request: Request, form: FormData) -> str:
    """Where to go back to: the form's ``next`` if it is a path of this site, else home."""
    base: str = request.scope.get("root_path", "").rstrip("/")
    target = form.get("next")
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return base + "/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return base + "/"
    return target


def _with_message(url: str, key: str, message: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode({key: message})}"


def _handler(action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = await request.form()
        if not token_ok(form.get("csrf_token"), request.app.state.dashboard.token):
            return PlainTextResponse("missing or wrong CSRF token; reload the page", status_code=403)
        target = _next(request, form)
        try:
            message = await run_in_threadpool(
                action, request.app.state.dashboard.pq, form, dict(request.path_params)
            )
        except PgQueueError as exc:
            return RedirectResponse(_with_message(target, "error", str(exc)), status_code=303)
        return RedirectResponse(_with_message(target, "flash", message), status_code=303)

    return endpoint


def pause(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    Queues(pq).pause(params["name"])
    return f"queue {params['name']} paused: running jobs finish, no new ones start"


def resume(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    Queues(pq).resume(params["name"])
    return f"queue {params['name']} resumed"


def retry(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    wanted = _ids(form)
    done = retry_jobs(pq, wanted)
    skipped = sorted(set(wanted) - set(done))
    message = f"requeued {_plural(len(done), 'job')}"
    if done and len(done) <= 5:
        message += f" ({', '.join(map(str, done))})"
    if skipped:
        message += (
            f"; left alone: {', '.join(map(str, skipped[:10]))} "
            "(not dead or cancelled, or a live job holds their unique key)"
        )
    return message


def retry_all_dead(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    queue, task = form.get("queue") or None, form.get("task") or None
    done = retry_jobs(
        pq,
        states=[JobState.DEAD],
        queue=queue if isinstance(queue, str) else None,
        task=task if isinstance(task, str) else None,
    )
    return f"requeued {_plural(len(done), 'dead job')}"


def cancel(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    outcome = cancel_jobs(pq, _ids(form))
    parts = []
    if outcome.cancelled:
        parts.append(f"cancelled {', '.join(map(str, outcome.cancelled))}")
    if outcome.requested:
        parts.append(f"asked the workers running {', '.join(map(str, outcome.requested))} to stop")
    if outcome.unchanged:
        parts.append(
            "already finished: " + ", ".join(f"{i} ({s})" for i, s in outcome.unchanged.items())
        )
    if outcome.missing:
        parts.append(f"no such job: {', '.join(map(str, outcome.missing))}")
    return "; ".join(parts)


BULK_ACTIONS = ("cancel", "retry", "delete")


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def bulk(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    """Cancel, retry or delete the selected jobs (``scope=selected``, the ``id`` fields)
    or every job the state/queue/task filter matches (``scope=filter``), through the
    same functions as ``pgqueue jobs cancel|retry|delete``. The browser has already
    asked for a confirmation that names how many."""
    action = _field(form, "action")
    if action not in BULK_ACTIONS:
        raise InvalidOption(f"unknown bulk action {action!r}; use one of {', '.join(BULK_ACTIONS)}")
    if _field(form, "scope") == "filter":
        where = JobFilter(state=_field(form, "state"), queue=_field(form, "queue"), task=_field(form, "task"))
        if where.state is None and where.queue is None and where.task is None:
            raise InvalidOption("choose a state, queue or task before acting on all matching jobs")
        outcome = run_bulk(pq, action, where)
        message = f"{action}: {_plural(outcome.done, 'job')} {_past(action)}"
        if outcome.requested:
            message += f", {_plural(outcome.requested, 'running job')} asked to stop"
        if outcome.skipped:
            message += f", {outcome.skipped} left alone (their state changed, or something depends on them)"
        return message
    ids = _ids(form)
    if action == "cancel":
        return cancel(pq, form, params)
    if action == "retry":
        return retry(pq, form, params)
    with pq.pool.connection() as conn:
        deleted = delete_batch(conn, ids)
    message = f"deleted {_plural(len(deleted), 'job')}"
    left = sorted(set(ids) - set(deleted))
    if left:
        message += (f"; left alone: {', '.join(map(str, left[:10]))} "
                    "(running or waiting, or another job depends on them)")
    return message


def _past(action: str) -> str:
    return {"cancel": "cancelled", "retry": "requeued", "delete": "deleted"}[action]


def _schedule(enabled: bool) -> Action:
    def toggle(pq: Any, form: FormData, params: dict[str, Any]) -> str:
        name = params["name"]
        if not cron.set_enabled(pq, name, enabled):
            raise InvalidOption(f"no schedule named {name!r}")
        return f"schedule {name} {'enabled' if enabled else 'disabled'}"

    return toggle


def run_now(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    name = params["name"]
    job_id = cron.run_now(pq, name)
    if job_id is None:
        raise InvalidOption(f"no schedule named {name!r}")
    return f"schedule {name}: enqueued job {job_id}"


def _json_field(form: FormData, name: str, kind: type, example: str) -> Any:
    text = _field(form, name)
    if text is None:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidOption(f"{name} is not valid JSON ({exc.msg} at character {exc.pos}); "
                            f"write e.g. {example}") from None
    if not isinstance(value, kind):
        what = "array" if kind is list else "object"
        raise InvalidOption(f"{name} must be a JSON {what}, e.g. {example}")
    return value


def enqueue(pq: Any, form: FormData, params: dict[str, Any]) -> str:
    """One job by task name, as ``pgqueue jobs enqueue`` (validated the same way). The
    task must be one of the dashboard's app or of a live worker: a typo is refused,
    not left queued for no one."""
    task = _field(form, "task")
    if task is None:
        raise InvalidOption("task name is empty")
    args = _json_field(form, "args", list, '[42, "a"]')
    kwargs = _json_field(form, "kwargs", dict, '{"user_id": 42}')
    options: dict[str, Any] = {}
    if (queue := _field(form, "queue")) is not None:
        options["queue"] = queue
    if (priority := _field(form, "priority")) is not None:
        try:
            options["priority"] = int(priority)
        except ValueError:
            raise InvalidOption(f"priority must be a whole number, got {priority!r}") from None
    if (delay := _field(form, "delay")) is not None:
        options["delay"] = parse_duration(delay)
    if task not in pq.tasks and task not in {r["task"] for r in list_tasks(pq)}:
        raise UnknownTask(f"unknown task {task!r}: neither this dashboard's app nor a live worker "
                          "registers it; check the name")
    job = pq.enqueue(task, args, kwargs, **options)
    row = job.refresh().row
    return f"enqueued job {job.id}: {row.task} on queue {row.queue}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def routes() -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route("/queues/{name}/pause", _handler(pause), methods=post, name="pause"),
        Route("/queues/{name}/resume", _handler(resume), methods=post, name="resume"),
        Route("/jobs/retry", _handler(retry), methods=post, name="retry"),
        Route("/jobs/cancel", _handler(cancel), methods=post, name="cancel"),
        Route("/jobs/bulk", _handler(bulk), methods=post, name="bulk"),
        Route("/jobs/enqueue", _handler(enqueue), methods=post, name="enqueue"),
        Route("/dead/retry-all", _handler(retry_all_dead), methods=post, name="retry_all"),
        Route("/schedules/{name}/enable", _handler(_schedule(True)), methods=post, name="enable"),
        Route("/schedules/{name}/disable", _handler(_schedule(False)), methods=post, name="disable"),
        Route("/schedules/{name}/run-now", _handler(run_now), methods=post, name="run_now"),
    ]
