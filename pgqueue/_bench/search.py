"""The ``search`` scenario: the dashboard's job search (:func:`pgqueue.dashboard.queries.search_jobs`,
the code path behind ``/jobs?q=``) over a table of finished jobs with varied arguments
and errors (bench_seed_search.sql), analyzed, for an argument value and an error text
that match a few rows, many rows and none.

A search "answers" when it has its first page: the newest :data:`PAGE` matches, or every
match in the table when there are fewer; the scenario checks the count against a
sequential scan (bench_search_count.sql) and fails the goal when the page is short.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import pgqueue

from .db import Probe
from .report import Result, percentiles

GOAL_MS = 300.0
"""The issue's bound for a search over 1M finished jobs."""
REPEATS = 5
PAGE = 50


@dataclass(frozen=True)
class Case:
    label: str
    q: str


def cases(n: int) -> list[Case]:
    """Searches for the seeded table of ``n`` jobs (see bench_seed_search.sql)."""
    # An order whose card was declined (g % 20 == 0, (g / 20) % 4 == 1), a third of the
    # way into the table: far outside the newest ids.
    order = 20 * (4 * (n // 240) + 1)
    return [
        Case("argument value, few rows", json.dumps({"user_id": 4242})),
        Case("argument value, many rows", json.dumps(["EUR"])),
        Case("argument value, no row", json.dumps({"user_id": -1})),
        Case("error text, few rows", f"declined for order {order}"),
        Case("error text, many rows", "timed out"),
        Case("error text, no row", "SegmentationFault"),
        Case("argument text, few rows", "user4242@example.com"),
    ]


def _answer(app: pgqueue.App, q: str) -> tuple[float, int]:
    """One first page, as ``/jobs?q=`` asks for it: (ms, rows)."""
    from ..dashboard.queries import search_jobs

    start = time.perf_counter()
    page = search_jobs(app, q=q, limit=PAGE)
    return (time.perf_counter() - start) * 1000.0, len(page.rows)


def search(probe: Probe, jobs: int) -> list[Result]:
    """Seed ``jobs`` finished jobs, ANALYZE, then time each case (first call and the
    median of :data:`REPEATS` more)."""
    probe.reset()
    probe.run("bench_seed_search", {"n": jobs})
    probe.run("bench_vacuum")
    app = pgqueue.App(dsn=probe.dsn, pool_min_size=1, pool_max_size=1)
    results = []
    try:
        for case in cases(jobs):
            contains = case.q if case.q[:1] in "{[" else None
            total = int(probe.one("bench_search_count", {"contains": contains, "q": case.q}))
            first_ms, found = _answer(app, case.q)
            times = [_answer(app, case.q)[0] for _ in range(REPEATS)]
            ms = float(statistics.median([first_ms, *times]))
            complete = found == min(PAGE, total)
            results.append(
                Result(
                    "search",
                    f"{case.label} over {jobs:,} finished: {case.q}",
                    latency_ms=percentiles([first_ms, *times]),
                    goal=f"< {GOAL_MS:.0f} ms, complete",
                    met=complete and ms < GOAL_MS,
                    extra={"matches": total, "found": found,
                           "first_ms": round(first_ms, 1), "runs_ms": [round(t, 1) for t in times]},
                )
            )
    finally:
        app.close()
    return results
