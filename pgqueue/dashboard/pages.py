"""The dashboard's pages (server-rendered HTML) and its small JSON API.

Handlers are plain functions: Starlette runs them on its thread pool, where the
pgqueue App's (synchronous) pool serves them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .._admin import Queues, job_details, list_jobs, list_workers
from .._admin.jobs import JobFilter, count_jobs
from .._maintenance import cron
from ..errors import JobNotFound, PgQueueError
from ..job import TERMINAL, JobState
from . import history, queries
from .templating import as_datetime, render

DEAD_PAGE_SIZE = 100


def _state(request: Request) -> Any:
    return request.app.state.dashboard


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def overview(request: Request) -> Response:
    return render(request, "overview.html", nav="overview", data=_state(request).overview.snapshot())


def api_overview(request: Request) -> Response:
    return JSONResponse(_json_safe(_state(request).overview.snapshot()))


def jobs(request: Request) -> Response:
    p = request.query_params
    filters = {
        "state": p.get("state", ""),
        "queue": p.get("queue", ""),
        "task": p.get("task", ""),
        "q": p.get("q", ""),
    }
    found = queries.search_jobs(
        _state(request).pq,
        before=_int(p.get("before")),
        limit=queries.PAGE_SIZE + 1,
        state=filters["state"],
        queue=filters["queue"],
        task=filters["task"],
        q=filters["q"],
    )
    more = len(found.rows) > queries.PAGE_SIZE
    rows = found.rows[: queries.PAGE_SIZE]
    next_before: int | None = rows[-1]["id"] if more and rows else None
    return render(
        request,
        "jobs.html",
        nav="jobs",
        rows=rows,
        filters=filters,
        window=(found.floor, found.ceiling) if found.floor is not None else None,
        states=[s.value for s in JobState] + [queries.SCHEDULED],
        queues=[r["queue"] for r in Queues(_state(request).pq).list()],
        next_before=next_before,
        live_states=[s.value for s in JobState if s not in TERMINAL],
        bulk_filter=not filters["q"],
        count=_count(request, filters) if not filters["q"] and _filtered(filters) else None,
    )


def _filtered(filters: dict[str, str]) -> bool:
    return bool(filters["state"] or filters["queue"] or filters["task"])


def _count(request: Request, filters: dict[str, str]) -> int:
    """How many jobs the state/queue/task filters match (capped), for "all matching"."""
    where = JobFilter(state=filters["state"] or None, queue=filters["queue"] or None,
                      task=filters["task"] or None)
    return count_jobs(_state(request).pq, where)


def timeline(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's life as (time, what, detail) events, oldest first."""
    events: list[dict[str, Any]] = []

    def add(at: object, what: str, detail: str = "", kind: str = "") -> None:
        moment = as_datetime(at)
        if moment is not None:
            events.append({"at": moment, "what": what, "detail": detail, "kind": kind})

    add(job.get("created_at"), "created", f"queue {job.get('queue')}")
    created, run_at = as_datetime(job.get("created_at")), as_datetime(job.get("run_at"))
    if created and run_at and (run_at - created).total_seconds() > 1:
        add(run_at, "due", "run_at: a delay, a retry back-off, or a requeue")
    for error in job.get("errors") or []:
        if isinstance(error, dict):
            add(
                error.get("at"),
                f"attempt {error.get('attempt', '?')} failed",
                f"{error.get('type', 'error')}: {error.get('message', '')}",
                "error",
            )
    add(job.get("started_at"), f"attempt {job.get('attempt')} started")
    add(job.get("cancel_requested_at"), "cancel requested", "", "warn")
    state = job.get("state", "")
    add(job.get("finished_at"), state, job.get("last_error") or "" if state != "succeeded" else "", state)
    events.sort(key=lambda e: e["at"])
    return events


def _future(value: object) -> bool:
    moment = as_datetime(value)
    return moment is not None and moment > datetime.now(UTC)


def job_detail(request: Request) -> Response:
    job_id = int(request.path_params["job_id"])
    job = job_details(_state(request).pq, job_id)
    return render(
        request,
        "job.html",
        nav="jobs",
        job=job,
        events=timeline(job),
        scheduled=_future(job.get("run_at")),
        cancellable=job["state"] not in {s.value for s in TERMINAL},
        retryable=job["state"] in (JobState.DEAD.value, JobState.CANCELLED.value),
    )


def api_job(request: Request) -> Response:
    return JSONResponse(_json_safe(job_details(_state(request).pq, int(request.path_params["job_id"]))))


def dead(request: Request) -> Response:
    p = request.query_params
    queue, task = p.get("queue") or None, p.get("task") or None
    pq = _state(request).pq
    rows = list_jobs(pq, state=JobState.DEAD, queue=queue, task=task, limit=DEAD_PAGE_SIZE)
    by_queue = [r for r in Queues(pq).list() if r["dead"]]
    return render(
        request,
        "dead.html",
        nav="dead",
        rows=rows,
        by_queue=by_queue,
        filters={"queue": queue or "", "task": task or ""},
        total=sum(int(r["dead"]) for r in by_queue),
    )


def workers(request: Request) -> Response:
    pq = _state(request).pq
    return render(
        request,
        "workers.html",
        nav="workers",
        workers=list_workers(pq),
        running=queries.running_jobs(pq),
    )


def schedules(request: Request) -> Response:
    return render(request, "schedules.html", nav="schedules", rows=cron.list_schedules(_state(request).pq))


RANGES = {"1h": 3600, "24h": 24 * 3600, "14d": 14 * 24 * 3600}
"""The history ranges the charts offer (query parameter ``range``)."""


def _range(request: Request) -> tuple[str, int]:
    key = request.query_params.get("range", "1h")
    return (key, RANGES[key]) if key in RANGES else ("1h", RANGES["1h"])


def api_history(request: Request) -> Response:
    key, seconds = _range(request)
    p = request.query_params
    data = _state(request).history_cache.get(
        (key, p.get("queue") or None, p.get("task") or None),
        lambda: history.throughput(
            _state(request).pq, seconds, p.get("queue") or None, p.get("task") or None
        ),
    )
    return JSONResponse(_json_safe(data))


def tasks(request: Request) -> Response:
    key, seconds = _range(request)
    window = max(seconds, 3600)
    return render(request, "tasks.html", nav="tasks", rows=history.tasks(_state(request).pq, window),
                  range_key=key, ranges=list(RANGES))


def task_detail(request: Request) -> Response:
    name = request.path_params["name"]
    key, seconds = _range(request)
    pq = _state(request).pq
    rows = history.tasks(pq, max(seconds, 3600), limit=10_000)
    summary = next((t for t in rows if t["task"] == name), None)
    return render(request, "task.html", nav="tasks", task=name, summary=summary,
                  failures=history.task_failures(pq, name, max(seconds, 3600)),
                  range_key=key, ranges=list(RANGES))


def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _json_safe(value: Any) -> Any:
    """Datetimes and UUIDs as strings, recursively (JSONResponse is strict)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def routes() -> list[BaseRoute]:
    return [
        Route("/", overview, name="overview"),
        Route("/jobs", jobs, name="jobs"),
        Route("/jobs/{job_id:int}", job_detail, name="job"),
        Route("/dead", dead, name="dead"),
        Route("/workers", workers, name="workers"),
        Route("/schedules", schedules, name="schedules"),
        Route("/tasks", tasks, name="tasks"),
        Route("/tasks/{name:path}", task_detail, name="task"),
        Route("/api/history", api_history, name="api_history"),
        Route("/api/overview", api_overview, name="api_overview"),
        Route("/api/jobs/{job_id:int}", api_job, name="api_job"),
        Route("/healthz", healthz, name="healthz"),
    ]


async def _not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(_prefix(request) + "/api/"):
        return JSONResponse({"error": str(exc)}, status_code=404)
    return _error_page(request, 404, str(exc))


async def _bad_request(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(_prefix(request) + "/api/"):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return _error_page(request, 400, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_page(request, exc.status_code, exc.detail)


def _prefix(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _error_page(request: Request, status: int, message: str) -> Response:
    try:
        return render(request, "error.html", status_code=status, nav="", status=status, message=message)
    except Exception:  # never hide the original error behind a template problem
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status)


def exception_handlers() -> dict[Any, Any]:
    return {JobNotFound: _not_found, PgQueueError: _bad_request, HTTPException: _http_error}
