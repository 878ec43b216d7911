"""Server-side rendering: the Jinja environment, its filters, and ``render``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .._durations import format_rate
from .._version import __version__


def as_datetime(value: object) -> datetime | None:
    """A datetime from a datetime or an ISO 8601 string (JSON rows carry strings)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def fmt_ts(value: object) -> str:
    moment = as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def fmt_seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    s = float(value)
    if s < 10:
        return f"{s:.1f}s"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{int(s // 60)}m {int(s % 60)}s"
    if s < 172800:
        return f"{int(s // 3600)}h {int(s % 3600 // 60)}m"
    return f"{int(s // 86400)}d {int(s % 86400 // 3600)}h"


def fmt_ago(value: object) -> str:
    moment = as_datetime(value)
    if moment is None:
        return "-"
    delta = (datetime.now(UTC) - moment).total_seconds()
    return f"{fmt_seconds(delta)} ago" if delta >= 0 else f"in {fmt_seconds(-delta)}"


def fmt_num(value: object) -> str:
    """Thousands separators: 927956 -> 927,956; floats keep at most 2 decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def fmt_iso(value: object) -> str:
    moment = as_datetime(value)
    return moment.isoformat() if moment else ""


def fmt_json(value: object) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pgqueue.dashboard", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.policies["json.dumps_kwargs"] = {"default": str, "sort_keys": True}
    env.filters.update(ts=fmt_ts, ago=fmt_ago, secs=fmt_seconds, pretty=fmt_json, num=fmt_num, iso=fmt_iso)
    env.globals.update(format_rate=format_rate, version=__version__)
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the dashboard's common context (nav, mode, CSRF token)."""
    state = request.app.state.dashboard
    page = state.env.get_template(template).render(
        request=request,
        title=state.title,
        read_only=state.read_only,
        csrf_token=state.token,
        poll_ms=int(state.poll_s * 1000),
        flash=request.query_params.get("flash"),
        flash_error=request.query_params.get("error"),
        path=request.url.path,
        base=request.scope.get("root_path", "").rstrip("/"),
        **context,
    )
    return HTMLResponse(page, status_code=status_code)
