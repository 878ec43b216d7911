"""A small SVG of the soak's samples.csv (no plotting library needed).

    python -m tests.soak.plot build/soak/<run>/samples.csv docs/img/soak.svg

Four panels over the run's minutes: sizes (jobs table, its indexes, the other tables),
dead tuples of pgqueue.jobs, the long-lived worker's RSS and the largest worker's, and
latencies (wake-up p50/p99, claim and complete mean).
"""

from __future__ import annotations

import csv
import sys
from html import escape
from pathlib import Path

W, H = 900, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 28, 30
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
PANELS = (
    ("table sizes (MB)", ("jobs_heap_mb", "jobs_index_mb", "job_dependencies_mb", "schedule_ticks_mb")),
    ("pgqueue.jobs dead tuples", ("jobs_dead",)),
    ("worker RSS (MB)", ("stayer_rss_mb", "max_rss_mb")),
    ("latency (ms)", ("wake_p50_ms", "wake_p99_ms", "claim_ms", "complete_ms")),
)


def _num(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _panel(rows: list[dict[str, str]], title: str, names: tuple[str, ...], y0: int) -> list[str]:
    ts = [float(r["t_s"]) / 60.0 for r in rows]
    # The scale leaves out the first minute (workers starting: seconds of latency), which
    # is drawn clipped at the top.
    settled = [r for r in rows if float(r["t_s"]) > 60]
    values = [v for n in names for r in settled if (v := _num(r.get(n, ""))) is not None]
    top = max(values, default=1.0) * 1.1 or 1.0
    tmax = max(ts, default=1.0) or 1.0
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + pw * t / tmax

    def y(v: float) -> float:
        return y0 + TOP + ph * (1 - min(v, top) / top)

    out = [
        f'<text x="{LEFT}" y="{y0 + 18}" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{y0 + TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for k in range(5):
        v = top * k / 4
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.3g}</text>')
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
    step = 5 if tmax > 10 else 1
    for m in range(0, int(tmax) + 1, step):
        at = f'x="{x(m):.1f}" y="{y0 + H - 12}"'
        out.append(f'<text {at} font-size="10" text-anchor="middle">{m} min</text>')
    for i, name in enumerate(names):
        points = [f"{x(t):.1f},{y(v):.1f}" for t, r in zip(ts, rows, strict=True)
                  if (v := _num(r.get(name, ""))) is not None]  # fmt: skip
        color = COLORS[i % len(COLORS)]
        if points:
            line = " ".join(points)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}"/>')
        out.append(f'<text x="{W - RIGHT + 10}" y="{y0 + TOP + 14 + 16 * i}" font-size="11" '
                   f'fill="{color}">{escape(name)}</text>')  # fmt: skip
    return out


def write_svg(samples: Path, target: Path) -> None:
    with samples.open() as f:
        rows = list(csv.DictReader(f))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H * len(PANELS)}" '
             f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>']  # fmt: skip
    for i, (title, names) in enumerate(PANELS):
        parts += _panel(rows, title, names, i * H)
    parts.append("</svg>")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(parts) + "\n")


if __name__ == "__main__":
    write_svg(Path(sys.argv[1]), Path(sys.argv[2]))
