"""Scenario results: one row per measurement, printed as a table and written as JSON."""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Result:
    """One measurement. ``rate`` is jobs/s (median of ``runs``); ``latency_ms`` holds
    p50/p95/p99/max where it applies; ``counters`` the per-job database counters;
    ``extra`` anything scenario-specific (ratios, checks, curves)."""

    scenario: str
    variant: str
    rate: float | None = None
    runs: list[float] = field(default_factory=list)
    latency_ms: dict[str, float] | None = None
    counters: dict[str, Any] | None = None
    goal: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "variant": self.variant,
            "rate": None if self.rate is None else round(self.rate, 1),
            "runs": [round(r, 1) for r in self.runs],
            "latency_ms": self.latency_ms,
            "counters": self.counters,
            "goal": self.goal,
            "met": self.met,
            "extra": self.extra,
        }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def percentiles(values_ms: list[float]) -> dict[str, float]:
    s = sorted(values_ms)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p * len(s)) - 1))]

    return {
        "p50": round(pct(0.50), 2),
        "p95": round(pct(0.95), 2),
        "p99": round(pct(0.99), 2),
        "max": round(s[-1], 2),
        "samples": len(s),
    }


def table(results: list[Result], title: str) -> Table:
    t = Table(title=title)
    for col in (
        "scenario",
        "variant",
        "jobs/s",
        "latency ms p50/p95/p99/max",
        "commits/job",
        "WAL B/job",
        "stmts/job",
        "goal",
        "met",
    ):
        t.add_column(col, justify="right" if col not in ("scenario", "variant", "goal") else "left")
    for r in results:
        lat = r.latency_ms
        c = r.counters or {}
        stmts = c.get("statements_per_job")
        t.add_row(
            r.scenario,
            r.variant,
            "" if r.rate is None else f"{r.rate:,.0f}",
            ""
            if lat is None
            else f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f}",
            "" if not c else f"{c['commits_per_job']:.3f}",
            "" if not c else f"{c['wal_bytes_per_job']:,.0f}",
            "" if not c else ("n/a" if stmts is None else f"{stmts:.2f}"),
            r.goal,
            "" if r.met is None else ("yes" if r.met else "NO"),
        )
    return t


def print_table(results: list[Result], title: str, console: Console | None = None) -> None:
    (console or Console()).print(table(results, title))


def write_json(path: Path, results: list[Result], meta: dict[str, Any]) -> None:
    data = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": _cpus(),
        },
        **meta,
        "results": [r.as_dict() for r in results],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _cpus() -> int | None:
    import os

    return os.cpu_count()
