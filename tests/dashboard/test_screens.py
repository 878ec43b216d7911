"""Every page in a real browser at desktop and phone width, light and dark: no element
wider than the page, the whole navigation reachable at 420 px, and the history charts
drawn from the database right after a page load.

With PGQUEUE_SCREENSHOTS=1 each page is also saved, full length, to
``test-artifacts/dashboard/screens/`` (docs/dashboard.md shows copies made by
scripts/docs_screens.sh). Encoding 40 full-page PNGs takes about 2 s of the test's 14,
so the default run checks every page without saving it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import psycopg

from pgqueue.dashboard import history

from .conftest import seed_dead, seed_queued
from .test_browser import ARTIFACTS, UI_TIMEOUT_MS, Proc, browser, spawn, start_dashboard  # noqa: F401

SCREENS = ARTIFACTS / "screens"
WIDTHS = {"desktop": (1360, 900), "phone": (420, 860)}
SCHEMES = ("light", "dark")
SAVE = os.environ.get("PGQUEUE_SCREENSHOTS") == "1"


def _seed(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """A busy-looking database: large counts, history over the last 90 minutes, failures,
    scheduled jobs, and a running job with progress."""
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, state, attempt, run_at, started_at, finished_at, "
        "last_error, errors) "
        "SELECT q, 'app.' || q || '.' || (g % 3), jsonb_build_array(g), "
        "CASE WHEN g % 41 = 0 THEN 'dead' ELSE 'succeeded' END, 1, "
        "now() - g * interval '45 ms' - interval '2 s', now() - g * interval '45 ms' - interval '1 s', "
        "now() - g * interval '45 ms', "
        "CASE WHEN g % 41 = 0 THEN 'TimeoutError: upstream took longer than 30s' END, "
        "CASE WHEN g % 41 = 0 THEN '[{\"type\": \"TimeoutError\", \"message\": \"upstream\"}]'::jsonb "
        "ELSE '[]' END "
        "FROM generate_series(1, 120000) g, unnest(ARRAY['emails', 'reports']) q "
        "WHERE g % (CASE q WHEN 'emails' THEN 1 ELSE 4 END) = 0"
    )
    seed_queued(conn, "emails", 12_500, tags=["welcome"])
    seed_queued(conn, "reports", 40, task="app.build_report")
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, run_at) SELECT 'emails', 'app.reminder', "
        "jsonb_build_array(g), now() + g * interval '1 minute' FROM generate_series(1, 1200) g"
    )
    dead = seed_dead(conn, queue="reports")
    running = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, state, attempt, started_at, worker_id, "
        "lease_expires_at, progress) VALUES ('reports', 'app.build_report', '[2026]', 'running', 1, "
        "now() - interval '95 s', gen_random_uuid(), now() + interval '1 hour', "
        "'{\"current\": 3120, \"total\": 4800, \"message\": \"rows exported\"}') RETURNING id"
    ).fetchone()
    assert running is not None
    conn.execute("DELETE FROM pgqueue.history_watermark")
    history.tick(conn)
    return {"dead": dead, "running": int(running[0])}


def test_every_page_at_both_widths_in_both_themes(
    browser: Any, spawn: Callable[..., Proc], conn: psycopg.Connection[Any]  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    ids = _seed(conn)
    url = start_dashboard(spawn, "dashboard-screens")
    pages = {
        "overview": "/",
        "jobs": "/jobs",
        "jobs-search": "/jobs?q=TimeoutError",
        "job-running": f"/jobs/{ids['running']}",
        "job-dead": f"/jobs/{ids['dead']}",
        "tasks": "/tasks?range=24h",
        "task": "/tasks/app.emails.1?range=1h",
        "dead": "/dead",
        "workers": "/workers",
        "schedules": "/schedules",
    }
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width_name, (width, height) in WIDTHS.items():
        for scheme in SCHEMES:
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = context.new_page()
            for name, path in pages.items():
                page.goto(url + path)
                if name in ("overview", "task"):
                    # History from the database right after a load: the lines are drawn.
                    expect(page.locator('[data-chart="finished"] polyline').first).to_be_attached()
                if name == "overview":
                    expect(page.locator("#chart-depth polyline").first).to_be_attached()
                    expect(page.locator("#total-queued")).to_have_text("12,540")
                if name == "job-running":
                    expect(page.locator("#job-progress-bar .pct")).to_have_text("65%")
                if name == "jobs":
                    expect(page.locator(".st-scheduled").first).to_be_attached()
                overflow = page.evaluate(
                    "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} at {width}px ({scheme}) is {overflow}px wider than the window"
                nav = page.locator("#nav-schedules").bounding_box()
                assert nav is not None and nav["x"] + nav["width"] <= width, f"navigation cut at {width}px"
                if SAVE:
                    page.screenshot(path=SCREENS / f"{name}-{width_name}-{scheme}.png", full_page=True)
            context.close()

