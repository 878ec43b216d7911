"""What the dashboard reads that pgqueue._admin does not offer.

Writes never live here: every dashboard action calls the same function as the CLI
(:mod:`pgqueue._admin`, :mod:`pgqueue._maintenance.cron`). These are reads shaped for
a browser: a job search with keyset paging, running jobs with their worker, and the
throughput series behind the live chart, refreshed incrementally and cached so many
open browser tabs cost the database no more than one.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from psycopg.rows import dict_row

from .._admin import Queues, list_workers
from .._settings import check_name
from .._sql import query
from ..errors import InvalidOption
from ..job import JobState
from . import history

if TYPE_CHECKING:
    from ..app import App

PAGE_SIZE: Final = 50
BUCKET_S: Final = 10
"""Width of one throughput bucket, in seconds."""
WINDOW_S: Final = 600
"""How much history the throughput chart shows, in seconds."""
RATE_WINDOW_S: Final = 60
"""Per-queue throughput is averaged over this many seconds."""
OVERLAP_BUCKETS: Final = 2
"""Recent buckets re-read on each refresh: a completion commits a little after the
``finished_at`` it wrote, so the newest buckets can still grow."""
HISTORY_CACHE_S: Final = 5.0
"""History charts and task summaries are shared by every request within this many seconds."""
DEPTH_WINDOW_S: Final = 3600
"""The depth chart starts with this much history from pgqueue.queue_history (per minute)."""
CACHE_S: Final = 1.0
UNRUNNABLE_CACHE_S: Final = 30.0
"""Jobs no live worker can run (doctor_unrunnable.sql reads the queued rows): at most one
read per this many seconds."""
"""An overview snapshot is shared by every request within this many seconds."""


SCAN_IDS: Final = 10_000
"""What no index serves (unfinished jobs, tags, part of a task name, of the arguments'
JSON text, or of the error where pg_trgm is missing) is matched among this many newest
ids, so a search answers in bounded time over any amount of history. Ids, argument
values and error text are matched by index in every finished job."""
SCHEDULED: Final = "scheduled"
TRIGRAM_MIN: Final = re.compile(r"\w{3}")
"""An error text search uses the trigram index only with a run of 3 word characters (pg_trgm
extracts nothing from less, and would read the whole index)."""


@dataclass
class Search:
    """One page of :func:`search_jobs`: its rows and, for a search, the window of newest
    ids (``floor`` .. ``ceiling``) in which what no index serves was matched."""

    rows: list[dict[str, Any]]
    floor: int | None = None
    ceiling: int | None = None


def _parse_contains(text: str | None) -> str | None:
    """For ``text`` that is a JSON object or array, the value ``args || kwargs`` must
    contain (an object wrapped in an array: the keyword arguments, or a positional
    object, contain it); else None."""
    if not text or text[0] not in "{[":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        return json.dumps([value])
    return json.dumps(value) if isinstance(value, list) else None


def _value_forms(text: str) -> list[object]:
    """The argument values equal to ``text``: the JSON scalar it spells (``42``, ``true``,
    ``"a b"``), and the string itself."""
    wanted: list[object] = [text]
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, bool) or value is None or (
        isinstance(value, int | float) and math.isfinite(value)
    ):
        wanted.insert(0, value)
    elif isinstance(value, str):
        wanted = [value]
    return wanted


def _value_path(wanted: list[object]) -> str:
    """A jsonpath matching any argument value (at any depth) equal to one of ``wanted``."""
    # json.dumps writes a valid jsonpath literal: a string's quotes and backslashes escaped.
    tests = " || ".join(f"@ == {json.dumps(v)}" for v in wanted)
    return f"$.** ? ({tests})"


def _has_scalar(value: object) -> bool:
    """Whether a JSON value holds a string, number or boolean anywhere (what
    ``pgqueue.search_tokens`` makes index keys of; a query without one cannot use the index)."""
    if isinstance(value, dict):
        return any(_has_scalar(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_scalar(v) for v in value)
    return value is not None


def search_jobs(
    app: App,
    *,
    state: str | None = None,
    queue: str | None = None,
    task: str | None = None,
    q: str | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
    scan_ids: int = SCAN_IDS,
) -> Search:
    """Jobs matching every filter, newest first, at most ``limit``, with ``id < before``.

    ``state`` is a job state or ``scheduled`` (queued with a future ``run_at``; ``queued``
    means every queued job). ``q`` matches, in every finished job (by index): a job id,
    an argument value equal to it at any depth (``42``, ``alice@example.com``), part of
    the last error (type and message; case-insensitive, 3 letters or more, where pg_trgm
    is installed); a ``q`` that is a JSON object or array matches jobs whose arguments
    contain it (``{"user_id": 42}``: a keyword argument; ``[42]``: a positional one).
    Among the ``scan_ids`` newest ids it also matches unfinished jobs, a tag exactly, and
    part of the task name, of the error or of the arguments' JSON text. A search is two
    statements at most: the window (bounded), then, when the page is not full yet, the
    indexes below it. Empty strings mean "no filter". Raises InvalidOption for an unknown
    state or a limit below 1, InvalidName for a malformed queue name.
    """
    if limit < 1:
        raise InvalidOption(f"limit must be >= 1, got {limit}")
    scheduled = None
    if state == SCHEDULED:
        state, scheduled = JobState.QUEUED.value, True
    elif state:
        try:
            state = JobState(state).value
        except ValueError:
            raise InvalidOption(
                f"state {state!r} is not a job state; use one of "
                f"{', '.join(s.value for s in JobState)} or {SCHEDULED}"
            ) from None
    if queue:
        check_name(queue, "queue")
    text = (q or "").strip() or None
    contains = _parse_contains(text)
    words = None if contains else text
    forms = _value_forms(words) if words is not None else None
    params: dict[str, Any] = {
        "state": state or None,
        "scheduled": scheduled,
        "queue": queue or None,
        "task": task or None,
        "before": before,
        "floor": None,
        "q": words,
        "q_id": int(text) if text is not None and text.isdigit() and len(text) < 19 else None,
        "contains": contains,
        "value_path": _value_path(forms) if forms is not None else None,
        # Below the window, by index only: a query with no scalar value has no index key.
        "contains_keyed": contains if contains and _has_scalar(json.loads(contains)) else None,
        "value_forms": json.dumps(forms) if forms and _has_scalar(forms) else None,
        "error_like": None,
        "limit": limit,
    }
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if text is None:
            return Search(cur.execute(query("dashboard_jobs_search"), params).fetchall())
        row = cur.execute(query("dashboard_max_id")).fetchone()
        top = int(next(iter(row.values()))) + 1 if row else 1
        floor = max(0, top - scan_ids)
        params["floor"] = floor
        rows: list[dict[str, Any]] = []
        if before is None or before > floor:
            rows = cur.execute(query("dashboard_jobs_search"), params).fetchall()
        if len(rows) < limit and floor > 0:
            if words is not None and TRIGRAM_MIN.search(words):
                indexed = cur.execute(query("dashboard_search_indexes")).fetchone()
                if indexed and indexed["error_index"]:
                    params["error_like"] = "%" + re.sub(r"([\\%_])", r"\\\1", words) + "%"
            params["before"] = floor if before is None else min(before, floor)
            params["limit"] = limit - len(rows)
            rows += cur.execute(query("dashboard_jobs_search_indexed"), params).fetchall()
    return Search(rows, floor, top - 1)


def running_jobs(app: App, limit: int = 200) -> list[dict[str, Any]]:
    """Rows of ``pgqueue.running_jobs`` (with worker host and pid), oldest start first."""
    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(query("dashboard_running"), {"limit": limit}).fetchall()
    return rows


@dataclass
class Throughput:
    """Finished jobs per ``bucket_s`` bucket, queue and state over the last ``window_s``.

    The first :meth:`refresh` reads the whole window; later ones re-read only the
    newest ``OVERLAP_BUCKETS`` buckets. Times are the database's clock (epoch seconds).
    """

    bucket_s: int = BUCKET_S
    window_s: int = WINDOW_S
    buckets: dict[int, dict[tuple[str, str], int]] = field(default_factory=dict)
    now: float = 0.0
    _loaded_until: int | None = None

    def _floor(self, t: float) -> int:
        return int(math.floor(t / self.bucket_s) * self.bucket_s)

    def refresh(self, app: App) -> None:
        with app.pool.connection() as conn:
            row = conn.execute(query("dashboard_now")).fetchone()
            self.now = float(row[0]) if row else time.time()
            oldest = self._floor(self.now - self.window_s)
            since = oldest
            if self._loaded_until is not None:
                since = max(oldest, self._loaded_until - OVERLAP_BUCKETS * self.bucket_s)
            rows = conn.execute(
                query("dashboard_throughput"),
                {"bucket_s": self.bucket_s, "since": datetime.fromtimestamp(since, UTC)},
            ).fetchall()
        kept = {b: counts for b, counts in self.buckets.items() if oldest <= b < since}
        for bucket, queue, state, n in rows:
            kept.setdefault(int(bucket), {})[(queue, state)] = int(n)
        self.buckets = kept
        self._loaded_until = self._floor(self.now)

    def series(self) -> list[dict[str, Any]]:
        """One point per bucket, oldest first: ``{"t", "succeeded", "dead", "cancelled"}``."""
        out = []
        start, end = self._floor(self.now - self.window_s), self._floor(self.now)
        for bucket in range(start + self.bucket_s, end + 1, self.bucket_s):
            point: dict[str, Any] = {"t": bucket, "succeeded": 0, "dead": 0, "cancelled": 0}
            for (_queue, state), n in self.buckets.get(bucket, {}).items():
                point[state] += n
            out.append(point)
        return out

    def rates(self, seconds: int = RATE_WINDOW_S) -> dict[str, dict[str, float]]:
        """Per queue: finished per second and dead per second over the last ``seconds``."""
        first = self._floor(self.now) - (seconds // self.bucket_s - 1) * self.bucket_s
        elapsed = max(1.0, self.now - first)
        totals: dict[str, dict[str, float]] = {}
        for bucket, counts in self.buckets.items():
            if bucket < first:
                continue
            for (queue, state), n in counts.items():
                entry = totals.setdefault(queue, {"finished": 0.0, "dead": 0.0})
                entry["finished"] += n
                if state == "dead":
                    entry["dead"] += n
        return {
            queue: {"per_s": round(v["finished"] / elapsed, 2), "dead_per_s": round(v["dead"] / elapsed, 3)}
            for queue, v in totals.items()
        }


class Overview:
    """The overview page's data, one database round per ``CACHE_S`` however many
    browsers poll it. Thread-safe (Starlette runs sync endpoints on a thread pool)."""

    def __init__(self, app: App, cache_s: float = CACHE_S) -> None:
        self.app = app
        self.cache_s = cache_s
        self.throughput = Throughput()
        self._lock = threading.Lock()
        self._snapshot: dict[str, Any] | None = None
        self._taken = 0.0
        self._unrunnable: list[dict[str, Any]] = []
        self._unrunnable_at = -math.inf

    def snapshot(self) -> dict[str, Any]:
        """``{"time", "queues", "totals", "throughput", "bucket_s", "workers", "depth_history",
        "unrunnable"}``."""
        with self._lock:
            if self._snapshot is not None and time.monotonic() - self._taken < self.cache_s:
                return self._snapshot
            self._snapshot = self._take()
            self._taken = time.monotonic()
            return self._snapshot

    def _take(self) -> dict[str, Any]:
        queues = Queues(self.app).list()
        self.throughput.refresh(self.app)
        rates = self.throughput.rates()
        for row in queues:
            rate = rates.get(row["queue"], {})
            row["per_s"] = rate.get("per_s", 0.0)
            row["dead_per_s"] = rate.get("dead_per_s", 0.0)
        totals: dict[str, float] = {
            key: sum(int(r[key]) for r in queues)
            for key in ("queued", "scheduled", "waiting", "running", "dead")
        }
        totals["per_s"] = round(sum(v["per_s"] for v in rates.values()), 2)
        workers = list_workers(self.app)
        if time.monotonic() - self._unrunnable_at >= UNRUNNABLE_CACHE_S:
            self._unrunnable = unrunnable_jobs(self.app)
            self._unrunnable_at = time.monotonic()
        for row in queues:
            row["unrunnable"] = sum(int(r["jobs"]) for r in self._unrunnable if r["queue"] == row["queue"])
        depth = [
            {"t": int(r["t"]), "queued": int(r["queued"]), "running": int(r["running"])}
            for r in history.depth(self.app, DEPTH_WINDOW_S)
        ]
        return {
            "depth_history": depth,
            "time": self.throughput.now,
            "queues": queues,
            "totals": totals,
            "throughput": self.throughput.series(),
            "bucket_s": self.throughput.bucket_s,
            "workers": {
                status: sum(1 for w in workers if w["status"] == status)
                for status in ("alive", "stopping", "stale")
            },
            "unrunnable": self._unrunnable,
        }


def unrunnable_jobs(app: App) -> list[dict[str, Any]]:
    """Queued jobs older than doctor's unrunnable age that no live worker can run (no live
    worker serves their queue with their task registered), per queue and task; the same
    query as ``pgqueue doctor``'s check and the ``pgqueue_jobs_unrunnable`` gauge."""
    from .._admin.doctor import UNRUNNABLE_AGE_S

    with app.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(
            query("doctor_unrunnable"), {"age_s": UNRUNNABLE_AGE_S}
        ).fetchall()
    return rows


class TTLCache:
    """Values computed at most once per ``ttl`` seconds per key, shared by every request
    (so open tabs polling the same chart cost one query per interval, not one each)."""

    def __init__(self, ttl: float = HISTORY_CACHE_S, size: int = 64) -> None:
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._values: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            value = compute()
            if len(self._values) >= self.size:
                self._values.clear()
            self._values[key] = (time.monotonic(), value)
            return value
