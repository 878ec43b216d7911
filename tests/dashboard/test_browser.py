"""The dashboard end to end in a real headless browser (Debian chromium + Playwright).

Real processes: ``pgqueue dashboard`` and ``pgqueue work`` run as subprocesses against
the test's database; the browser clicks the buttons. Screenshots of the main pages go
to ``test-artifacts/dashboard/``. Skipped outside CI when chromium or Playwright is
missing; in CI (``CI`` set) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import pgqueue

from ..helpers import wait_for
from .conftest import seed_dead, seed_queued

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("PGQUEUE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
UI_TIMEOUT_MS = 20_000


def _require_browser() -> None:
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install playwright)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """A pgqueue subprocess in its own process group, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"{name}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgqueue.cli", *args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def spawn(dsn: str) -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []
    env = {**os.environ, "PGQUEUE_DSN": dsn}
    env.pop("DATABASE_URL", None)

    def start(name: str, *args: str, **extra_env: str) -> Proc:
        proc = Proc(name, list(args), {**env, **extra_env})
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


def start_dashboard(spawn: Callable[..., Proc], name: str, **env: str) -> str:
    port = _free_port()
    proc = spawn(name, "dashboard", "--port", str(port), **env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.proc.poll() is None, proc.log_path.read_text()
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=30, interval=0.1)
    return url


def _one(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


@pytest.fixture
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _history(conn: psycopg.Connection[Any]) -> None:
    """Ten minutes of finished jobs, so the throughput chart has something to draw."""
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, attempt, started_at, finished_at) "
        "SELECT q, 'app.' || q, CASE WHEN g % 97 = 0 THEN 'dead' ELSE 'succeeded' END, 1, "
        "now() - g * interval '0.4 s', now() - g * interval '0.4 s' "
        "FROM generate_series(1, 1400) g, unnest(ARRAY['emails', 'reports']) q "
        "WHERE g % (CASE q WHEN 'emails' THEN 1 ELSE 3 END) = 0"
    )


def test_dashboard_in_a_real_browser(
    browser: Any, spawn: Callable[..., Proc], dsn: str, conn: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # --- a dead job made by a real worker: the task fails while the flag file exists ---
    flag = tmp_path / "fail"
    flag.touch()
    with pgqueue.App(dsn=dsn) as pq:
        job_id = pq.enqueue("e2e.flaky", [7], queue="e2e", max_attempts=1, tags=["nightly"]).id
        pq.add_schedule(
            "nightly-report", "e2e.flaky", interval=timedelta(hours=24), args=[1], queue="e2e"
        )
        pq.add_schedule("hourly-digest", "app.send_digest", cron="0 * * * *", queue="emails")
        from pgqueue._maintenance.cron import Scheduler

        Scheduler(pq).sync()
    spawn("worker", "work", "--app", "tests.dashboard.e2e_app:app", "--queues", "e2e",
          "--poll-interval", "1", E2E_FAIL_FLAG=str(flag))
    q = "SELECT state FROM pgqueue.jobs WHERE id = %s"
    wait_for(lambda: _one(conn, q, job_id) == "dead", timeout=60)

    seed_queued(conn, "emails", 5, tags=["welcome"])
    seed_queued(conn, "reports", 2, task="app.build_report")
    seed_dead(conn, queue="reports")
    _history(conn)
    url = start_dashboard(spawn, "dashboard")
    page = browser.new_page(viewport={"width": 1360, "height": 860})

    # --- the overview shows the queue depths, and keeps them live ---
    page.goto(url + "/")
    emails = page.locator('#queues tr[data-queue="emails"]')
    expect(emails.locator('[data-col="queued"]')).to_have_text("5")
    expect(page.locator('#queues tr[data-queue="reports"] [data-col="queued"]')).to_have_text("2")
    expect(page.locator('#queues tr[data-queue="e2e"] [data-col="dead"]')).to_have_text("1")
    seed_queued(conn, "emails", 3)
    expect(emails.locator('[data-col="queued"]')).to_have_text("8")  # polled, no reload
    expect(page.locator("#total-queued")).to_have_text("10")
    page.wait_for_timeout(2500)  # one more sample, so the depth chart shows a step
    page.screenshot(path=ARTIFACTS / "overview.png")

    # --- a queue paused from the UI, checked in the database ---
    emails.get_by_role("button", name="Pause").click()
    expect(page.locator(".flash.ok")).to_contain_text("queue emails paused")
    expect(emails.locator('[data-col="status"]')).to_have_text("paused")
    paused = "SELECT paused FROM pgqueue.queues WHERE name = %s"
    assert _one(conn, paused, "emails") is True
    page.screenshot(path=ARTIFACTS / "overview-paused.png")
    emails.get_by_role("button", name="Resume").click()
    expect(emails.locator('[data-col="status"]')).to_have_text("active")
    assert _one(conn, paused, "emails") is False

    # --- the dead job retried with a click, then it succeeds ---
    page.goto(url + "/dead")
    dead_total = _one(conn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'dead'")
    expect(page.locator("#dead-total")).to_have_text(str(dead_total))
    row = page.locator(f'#dead tr[data-job="{job_id}"]')
    expect(row).to_contain_text("RuntimeError: report 7: upstream API answered 503")
    page.screenshot(path=ARTIFACTS / "dead.png")
    flag.unlink()  # the cause is fixed
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"requeued 1 job ({job_id})")
    wait_for(lambda: _one(conn, q, job_id) == "succeeded", timeout=60)
    page.goto(f"{url}/jobs/{job_id}")
    expect(page.locator("#job-state")).to_have_text("succeeded")
    expect(page.locator("#job-result")).to_contain_text('"ok": true')
    expect(page.locator("details.error").first).to_contain_text("RuntimeError")
    expect(page.locator("#timeline")).to_contain_text("attempt 1 failed")
    page.screenshot(path=ARTIFACTS / "job.png", full_page=True)

    # --- the other pages; a queued job cancelled after the confirmation dialog ---
    page.goto(url + "/jobs?q=welcome")
    expect(page.locator("#jobs tbody tr")).to_have_count(5)
    victim = int(page.locator("#jobs tbody tr").first.get_attribute("data-job"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'#jobs tr[data-job="{victim}"]').get_by_role("button", name="Cancel").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"cancelled {victim}")
    assert _one(conn, q, victim) == "cancelled"
    page.goto(url + "/jobs")
    page.screenshot(path=ARTIFACTS / "jobs.png")
    page.goto(url + "/workers")
    expect(page.locator("#workers")).to_contain_text("alive")
    page.screenshot(path=ARTIFACTS / "workers.png")
    page.goto(url + "/schedules")
    expect(page.locator('#schedules tr[data-schedule="nightly-report"]')).to_contain_text("every 24h")
    page.screenshot(path=ARTIFACTS / "schedules.png")


def test_auth_refuses_unauthenticated_reads_and_writes(
    browser: Any, spawn: Callable[..., Proc], conn: psycopg.Connection[Any]
) -> None:
    from playwright.sync_api import expect

    seed_queued(conn, "reports", 2)
    url = start_dashboard(spawn, "dashboard-auth", PGQUEUE_DASHBOARD_AUTH="admin:s3cret")
    paused = "SELECT paused FROM pgqueue.queues WHERE name = 'reports'"

    from playwright.sync_api import Error as PlaywrightError

    anonymous = browser.new_context()
    try:
        response = anonymous.new_page().goto(url + "/")
        assert response is not None and response.status == 401
    except PlaywrightError as exc:  # headless chromium ends a refused basic-auth challenge so
        assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
    write = anonymous.request.post(url + "/queues/reports/pause", form={"csrf_token": "x"})
    assert write.status == 401
    assert anonymous.request.get(url + "/api/overview").status == 401
    anonymous.close()
    assert _one(conn, paused) is None

    context = browser.new_context(http_credentials={"username": "admin", "password": "s3cret"})
    page = context.new_page()
    page.goto(url + "/")
    page.locator('#queues tr[data-queue="reports"]').get_by_role("button", name="Pause").click()
    expect(page.locator(".flash.ok")).to_contain_text("queue reports paused", timeout=UI_TIMEOUT_MS)
    assert _one(conn, paused) is True
    context.close()
