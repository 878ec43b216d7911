"""The dashboard's pages (server-rendered HTML) and its small JSON API.

Handlers are plain functions: Starlette runs them on its thread pool, where the
pgqueue App's (synchronous) pool serves them.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .._admin import Queues, job_details, list_jobs, list_workers
from .._maintenance import cron
from ..errors import JobNotFound, PgQueueError
from ..job import TERMINAL, JobState
from . import queries
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
    rows = queries.search_jobs(
        _state(request).pq,
        before=_int(p.get("before")),
        limit=queries.PAGE_SIZE + 1,
        **filters,
    )
    more = len(rows) > queries.PAGE_SIZE
    rows = rows[: queries.PAGE_SIZE]
    return render(
        request,
        "jobs.html",
        nav="jobs",
        rows=rows,
        filters=filters,
        states=[s.value for s in JobState],
        queues=[r["queue"] for r in Queues(_state(request).pq).list()],
        next_before=rows[-1]["id"] if more and rows else None,
        live_states=[s.value for s in JobState if s not in TERMINAL],
    )


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


def job_detail(request: Request) -> Response:
    job_id = int(request.path_params["job_id"])
    job = job_details(_state(request).pq, job_id)
    return render(
        request,
        "job.html",
        nav="jobs",
        job=job,
        events=timeline(job),
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
