"""The dashboard over HTTP (in-process ASGI client, real database): pages, JSON,
actions, and the guards (CSRF, same origin, read-only, auth)."""

from __future__ import annotations

import base64
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgqueue

from .conftest import TRACEBACK, seed_dead, seed_queued, token

pytest.importorskip("starlette", reason="the dashboard extra is not installed")

from starlette.testclient import TestClient


def _paused(conn: psycopg.Connection[Any], queue: str) -> bool | None:
    row = conn.execute("SELECT paused FROM pgqueue.queues WHERE name = %s", (queue,)).fetchone()
    return None if row is None else bool(row[0])


def _state(conn: psycopg.Connection[Any], job_id: int) -> str:
    row = conn.execute("SELECT state FROM pgqueue.jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _post(client: TestClient, url: str, **fields: Any) -> Any:
    form = {"csrf_token": token(client.get("/").text), "next": "/", **fields}
    return client.post(url, data=form)


def test_every_page_renders(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    seed_queued(conn, "emails", 5)
    dead = seed_dead(conn)
    for path in ("/", "/jobs", f"/jobs/{dead}", "/dead", "/workers", "/schedules", "/tasks",
                 "/tasks/app.build_report?range=14d", "/jobs?q=boom", "/jobs?state=scheduled"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "text/html" in response.headers["content-type"]
    overview = client.get("/").text
    assert 'data-queue="emails"' in overview and 'data-queue="reports"' in overview
    detail = client.get(f"/jobs/{dead}").text
    assert "ValueError" in detail and "reports.py" in detail and "attempt 3 failed" in detail
    assert client.get("/healthz").text == "ok"
    assert client.get("/static/dashboard.js").status_code == 200


def test_overview_json_counts_depth_and_throughput(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    seed_queued(conn, "emails", 5)
    seed_queued(conn, "reports", 2)
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, attempt, started_at, finished_at) "
        "SELECT 'emails', 'app.send_email', 'succeeded', 1, now(), now() FROM generate_series(1, 7)"
    )
    seed_dead(conn, queue="emails")
    data = client.get("/api/overview").json()
    queues = {q["queue"]: q for q in data["queues"]}
    assert queues["emails"]["queued"] == 5 and queues["reports"]["queued"] == 2
    assert queues["emails"]["dead"] == 1
    assert data["totals"]["queued"] == 7
    finished = sum(p["succeeded"] for p in data["throughput"])
    assert finished == 7
    assert sum(p["dead"] for p in data["throughput"]) == 1
    assert queues["emails"]["per_s"] > 0
    assert data["workers"] == {"alive": 0, "stopping": 0, "stale": 0}


def test_throughput_refresh_reads_only_new_buckets(
    app: pgqueue.App, conn: psycopg.Connection[Any]
) -> None:
    from pgqueue.dashboard.queries import Throughput

    series = Throughput()
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, attempt, finished_at) SELECT 'q', 't', "
        "'succeeded', 1, now() - interval '5 minutes' FROM generate_series(1, 4)"
    )
    series.refresh(app)
    assert sum(p["succeeded"] for p in series.series()) == 4
    conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, attempt, finished_at) "
        "SELECT 'q', 't', 'dead', 1, now() FROM generate_series(1, 3)"
    )
    # Rows far in the past are not re-read: the old bucket is kept from the first read.
    conn.execute("DELETE FROM pgqueue.jobs WHERE finished_at < now() - interval '4 minutes'")
    series.refresh(app)
    points = series.series()
    assert sum(p["succeeded"] for p in points) == 4
    assert sum(p["dead"] for p in points) == 3
    assert len(points) == series.window_s // series.bucket_s


def test_pause_and_resume_from_a_form(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    seed_queued(conn, "emails", 1)
    response = _post(client, "/queues/emails/pause")
    assert response.status_code == 303
    assert "flash=" in response.headers["location"]
    assert _paused(conn, "emails") is True
    assert "Resume" in client.get("/").text
    assert _post(client, "/queues/emails/resume").status_code == 303
    assert _paused(conn, "emails") is False


def test_retry_a_dead_job_and_cancel_a_queued_one(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    dead = seed_dead(conn)
    [queued] = seed_queued(conn, "emails", 1)
    response = _post(client, "/jobs/retry", id=str(dead), next=f"/jobs/{dead}")
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/jobs/{dead}?flash=requeued")
    assert _state(conn, dead) == "queued"
    errors = conn.execute("SELECT jsonb_array_length(errors) FROM pgqueue.jobs WHERE id = %s", (dead,))
    assert errors.fetchone() == (1,)  # the history stays
    _post(client, "/jobs/cancel", id=str(queued))
    assert _state(conn, queued) == "cancelled"
    # Retrying a job that is not dead leaves it alone and says so.
    again = _post(client, "/jobs/retry", id=str(dead))
    assert "left+alone" in again.headers["location"] or "left%20alone" in again.headers["location"]


def test_retry_all_dead_of_one_queue(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    a = seed_dead(conn, queue="reports")
    b = seed_dead(conn, queue="emails")
    _post(client, "/dead/retry-all", queue="reports", task="")
    assert _state(conn, a) == "queued" and _state(conn, b) == "dead"


def test_bad_input_comes_back_as_a_message(client: TestClient) -> None:
    response = _post(client, "/jobs/retry")
    assert response.status_code == 303 and "error=select" in response.headers["location"]
    response = _post(client, "/queues/bad name!/pause")
    assert "error=" in response.headers["location"]
    assert client.get("/jobs?state=bogus").status_code == 400
    assert client.get("/jobs/987654").status_code == 404
    assert client.get("/api/jobs/987654").json()["error"].startswith("job 987654")


def test_redirects_stay_on_the_dashboard(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    seed_queued(conn, "emails", 1)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = _post(client, "/queues/emails/pause", next=target)
        assert response.headers["location"].startswith("/?flash=")


def test_posts_need_the_token_and_the_same_origin(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    seed_queued(conn, "emails", 1)
    assert client.post("/queues/emails/pause", data={"next": "/"}).status_code == 403
    assert client.post("/queues/emails/pause", data={"csrf_token": "guess"}).status_code == 403
    good = token(client.get("/").text)
    foreign = client.post(
        "/queues/emails/pause", data={"csrf_token": good}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert _paused(conn, "emails") is None
    same = client.post(
        "/queues/emails/pause", data={"csrf_token": good}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 303 and _paused(conn, "emails") is True


def test_read_only_hides_and_refuses_actions(
    read_only_client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    seed_queued(conn, "emails", 1)
    dead = seed_dead(conn)
    for path in ("/", "/dead", f"/jobs/{dead}", "/jobs"):
        html = read_only_client.get(path).text
        assert "<form method=\"post\"" not in html, path
    assert "read-only" in read_only_client.get("/").text
    refused = read_only_client.post("/queues/emails/pause", data={})
    assert refused.status_code == 403
    assert _paused(conn, "emails") is None and _state(conn, dead) == "dead"


def test_auth_refuses_anonymous_reads_and_writes(
    auth_client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    seed_queued(conn, "emails", 1)
    good = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}
    anonymous = auth_client.get("/")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    assert auth_client.get("/api/overview", headers=wrong).status_code == 401
    assert auth_client.post("/queues/emails/pause", data={"csrf_token": "x"}).status_code == 401
    assert _paused(conn, "emails") is None
    page = auth_client.get("/", headers=good)
    assert page.status_code == 200
    ok = auth_client.post("/queues/emails/pause", data={"csrf_token": token(page.text)}, headers=good)
    assert ok.status_code == 303 and _paused(conn, "emails") is True
    assert auth_client.get("/healthz").status_code == 200


def test_job_search_by_id_tag_task_and_paging(
    client: TestClient, app: pgqueue.App, conn: psycopg.Connection[Any]
) -> None:
    from pgqueue.dashboard.queries import search_jobs

    emails = seed_queued(conn, "emails", 3, tags=["welcome"])
    reports = seed_queued(conn, "reports", 2, task="app.build_report")
    ids = lambda found: [r["id"] for r in found.rows]  # noqa: E731
    assert ids(search_jobs(app, q=str(reports[0]))) == [reports[0]]
    assert ids(search_jobs(app, q="welcome")) == sorted(emails, reverse=True)
    assert ids(search_jobs(app, q="BUILD_rep")) == sorted(reports, reverse=True)
    assert ids(search_jobs(app, queue="emails", before=emails[-1])) == sorted(emails[:-1], reverse=True)
    assert ids(search_jobs(app, state="dead")) == []
    html = client.get("/jobs", params={"q": "welcome"}).text
    assert all(f'data-job="{i}"' in html for i in emails)
    assert not any(f'data-job="{i}"' in html for i in reports)


def test_job_detail_shows_arguments_result_errors_and_timeline(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    dead = seed_dead(conn)
    conn.execute(
        "UPDATE pgqueue.jobs SET progress = '{\"done\": 3, \"of\": 10}' WHERE id = %s", (dead,)
    )
    html = client.get(f"/jobs/{dead}").text
    assert 'id="job-progress"' in html and "&#34;done&#34;: 3" in html
    assert TRACEBACK.splitlines()[1].strip().replace('"', "&#34;") in html
    for event in ("created", "attempt 3 failed", "dead"):
        assert f"<b>{event}</b>" in html
    data = client.get(f"/api/jobs/{dead}").json()
    assert data["state"] == "dead" and data["errors"][0]["type"] == "ValueError"


def test_schedules_page_and_actions(
    client: TestClient, app: pgqueue.App, conn: psycopg.Connection[Any]
) -> None:
    from datetime import timedelta

    from pgqueue._maintenance.cron import Scheduler

    app.add_schedule("nightly-report", "app.build_report", interval=timedelta(hours=24), queue="reports")
    Scheduler(app).sync()
    assert 'data-schedule="nightly-report"' in client.get("/schedules").text
    response = _post(client, "/schedules/nightly-report/run-now", next="/schedules")
    assert "enqueued+job" in response.headers["location"]
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE queue = 'reports'").fetchone() == (1,)
    _post(client, "/schedules/nightly-report/disable")
    row = conn.execute("SELECT enabled FROM pgqueue.schedules WHERE name = 'nightly-report'").fetchone()
    assert row == (False,)
    missing = _post(client, "/schedules/nope/enable")
    assert "error=no+schedule" in missing.headers["location"]


def test_the_dashboard_mounts_under_a_prefix(app: pgqueue.App, conn: psycopg.Connection[Any]) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from pgqueue.dashboard import create_app

    seed_queued(conn, "emails", 1)
    outer = Starlette(routes=[Mount("/ops/queues", create_app(app))])
    with TestClient(outer, follow_redirects=False) as c:
        html = c.get("/ops/queues/").text
        assert 'href="/ops/queues/static/dashboard.css"' in html
        assert 'action="/ops/queues/queues/emails/pause"' in html
        assert c.get("/ops/queues/static/dashboard.css").status_code == 200


def test_cli_refuses_a_malformed_auth_option() -> None:
    from typer.testing import CliRunner

    from pgqueue.cli import app as cli

    result = CliRunner().invoke(cli, ["--dsn", "postgresql://unused/db", "dashboard", "--auth", "admin"])
    assert result.exit_code == 2
    assert "--auth must look like user:password" in result.output


def test_scheduled_jobs_show_as_scheduled(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    later = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, run_at) "
        "VALUES ('emails', 'app.later', now() + interval '1 hour') RETURNING id").fetchone()
    assert later is not None
    due = seed_queued(conn, "emails", 1)[0]
    page = client.get("/jobs").text
    row = page.split(f'data-job="{later[0]}"')[1].split("</tr>")[0]
    assert "st-scheduled" in row and ">scheduled<" in row and ">in " in row
    assert "st-queued" in page.split(f'data-job="{due}"')[1].split("</tr>")[0]
    only = client.get("/jobs", params={"state": "scheduled"}).text
    assert f'data-job="{later[0]}"' in only and f'data-job="{due}"' not in only
    assert ">scheduled<" in client.get(f"/jobs/{later[0]}").text


def test_search_by_argument_value_error_text_and_json(
    app: pgqueue.App, client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    from pgqueue.dashboard.queries import search_jobs

    rows = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, kwargs, state, finished_at, last_error) VALUES "
        "('q', 'app.charge', '[\"ord-7731\"]', '{\"user_id\": 42}', 'dead', now(), "
        " 'PaymentDeclined: card 4242 refused by issuer'), "
        "('q', 'app.charge', '[\"ord-1\"]', '{\"user_id\": 7}', 'succeeded', now(), NULL) "
        "RETURNING id").fetchall()
    declined, fine = rows[0][0], rows[1][0]
    ids = lambda found: [r["id"] for r in found.rows]  # noqa: E731
    assert ids(search_jobs(app, q="ORD-7731")) == [declined]          # argument text
    assert ids(search_jobs(app, q="paymentdeclined")) == [declined]   # error type
    assert ids(search_jobs(app, q="refused by")) == [declined]        # error message
    assert ids(search_jobs(app, q='{"user_id": 42}')) == [declined]   # JSON containment (kwargs)
    assert ids(search_jobs(app, q='["ord-1"]')) == [fine]             # JSON containment (args)
    # Part of the arguments' text is matched among the newest ids only (here: one) ...
    found = search_jobs(app, q="ord-", scan_ids=1)
    assert ids(found) == [fine] and found.floor == fine
    # ... argument values, JSON containment and error text in every finished job, by index.
    assert ids(search_jobs(app, q="ord-7731", scan_ids=1)) == [declined]
    assert ids(search_jobs(app, q="42", scan_ids=1)) == [declined]  # a value at any depth
    assert ids(search_jobs(app, q='{"user_id": 42}', scan_ids=1)) == [declined]
    assert ids(search_jobs(app, q='["ord-7731"]', scan_ids=1)) == [declined]
    assert ids(search_jobs(app, q="REFUSED by", scan_ids=1)) == [declined]
    assert ids(search_jobs(app, q="nothing like it", scan_ids=1)) == []
    page = client.get("/jobs", params={"q": "4242"}).text
    assert f'data-job="{declined}"' in page and f'data-job="{fine}"' not in page
    assert 'id="search-window"' in page


def test_bulk_actions_on_selected_jobs_and_on_a_filter(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    queued = seed_queued(conn, "emails", 4)
    dead = [seed_dead(conn, queue="reports") for _ in range(3)]
    page = client.get("/jobs", params={"queue": "reports"}).text
    assert "all 3 matching" in page and 'data-count="3"' in page
    # Selected: delete two queued jobs, cancel one, retry one dead job.
    r = _post(client, "/jobs/bulk", action="delete", scope="selected", id=[str(i) for i in queued[:2]])
    assert r.status_code == 303 and "deleted+2+jobs" in r.headers["location"]
    gone = conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE id = ANY(%s)", (queued[:2],)).fetchone()
    assert gone == (0,)
    _post(client, "/jobs/bulk", action="cancel", scope="selected", id=str(queued[2]))
    assert _state(conn, queued[2]) == "cancelled"
    _post(client, "/jobs/bulk", action="retry", scope="selected", id=str(dead[0]))
    assert _state(conn, dead[0]) == "queued"
    # All matching a filter: the two dead jobs left in queue reports are deleted.
    r = _post(client, "/jobs/bulk", action="delete", scope="filter", state="dead", queue="reports")
    assert "deleted" in r.headers["location"] and "2+jobs" in r.headers["location"]
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE state = 'dead'").fetchone() == (0,)
    assert _state(conn, queued[3]) == "queued"
    # "All matching" without any filter is refused; so is an unknown action.
    r = _post(client, "/jobs/bulk", action="delete", scope="filter")
    assert "error=" in r.headers["location"] and _state(conn, queued[3]) == "queued"
    assert "error=" in _post(client, "/jobs/bulk", action="explode", id="1").headers["location"]


def test_history_api_and_task_pages_survive_a_reload(
    client: TestClient, app: pgqueue.App, conn: psycopg.Connection[Any]
) -> None:
    from tests.dashboard.test_history import finished

    finished(conn, minutes_ago=4, n=12, task="app.build_report", run_s=0.3)
    finished(conn, minutes_ago=4, n=3, task="app.build_report", state="dead", errors=1)
    seed_dead(conn)
    assert client.app.state.dashboard.recorder.run_once()  # type: ignore[attr-defined]
    data = client.get("/api/history", params={"range": "1h"}).json()
    assert data["width_s"] == 60 and sum(p["succeeded"] for p in data["points"]) == 12
    assert sum(p["dead"] for p in data["points"]) == 3
    day = client.get("/api/history", params={"range": "24h", "task": "app.build_report"}).json()
    assert 1437 <= len(day["points"]) <= 1440 and max(p["run_p95"] or 0 for p in day["points"]) > 0
    assert client.get("/api/history", params={"range": "14d"}).json()["width_s"] == 3600
    overview = client.get("/api/overview").json()
    assert overview["depth_history"] and overview["depth_history"][-1]["queued"] == 0
    tasks = client.get("/tasks", params={"range": "24h"}).text
    assert 'data-task="app.build_report"' in tasks and "15" in tasks
    task = client.get("/tasks/app.build_report").text
    assert "ValueError" in task  # recent failures grouped by error type (the seeded dead job)


def test_job_page_shows_progress_as_a_bar(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    job = conn.execute(
        "INSERT INTO pgqueue.jobs (task, state, attempt, started_at, worker_id, lease_expires_at, progress) "
        "VALUES ('app.x', 'running', 1, now(), gen_random_uuid(), now() + interval '1 minute', %s) "
        "RETURNING id", (Jsonb({"current": 30, "total": 120, "message": "rows"}),)).fetchone()
    assert job is not None
    page = client.get(f"/jobs/{job[0]}").text
    assert '<progress max="120" value="30">' in page and "25%" in page and 'data-live-job' in page


def test_numbers_carry_thousands_separators() -> None:
    from pgqueue.dashboard.templating import fmt_num

    assert fmt_num(927956) == "927,956" and fmt_num(12.5) == "12.5" and fmt_num(3.0) == "3"


def test_a_bracketed_error_is_listed_shown_searched_retried_and_deleted(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    """Data is never markup: an error text full of brackets, quotes and HTML survives every
    page and action literally (escaped in HTML, never interpreted)."""
    text = "FileNotFoundError: config section [/etc/app] not found <b>\"'&"
    dead = seed_dead(conn)
    conn.execute(
        "UPDATE pgqueue.jobs SET last_error = %s, errors = jsonb_build_array(jsonb_build_object("
        "'type', 'FileNotFoundError', 'message', %s::text, 'traceback', %s::text, 'attempt', 3))"
        " WHERE id = %s",
        (text, text[len("FileNotFoundError: "):], "Traceback: [/etc/app]\n", dead),
    )
    escaped = "config section [/etc/app] not found &lt;b&gt;"
    listed = client.get("/jobs?state=dead")
    assert listed.status_code == 200 and escaped in listed.text and "<b>\"" not in listed.text
    shown = client.get(f"/jobs/{dead}")
    assert shown.status_code == 200 and escaped in shown.text and "Traceback: [/etc/app]" in shown.text
    found = client.get("/jobs?q=%5B%2Fetc%2Fapp%5D")  # search by the bracketed error text
    assert found.status_code == 200 and f"/jobs/{dead}" in found.text
    _post(client, "/jobs/retry", id=str(dead))
    assert _state(conn, dead) == "queued"
    conn.execute("UPDATE pgqueue.jobs SET state = 'dead', finished_at = now() WHERE id = %s", (dead,))
    r = _post(client, "/jobs/bulk", action="delete", scope="selected", id=[str(dead)])
    assert r.status_code == 303 and "deleted+1+job" in r.headers["location"]
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE id = %s", (dead,)).fetchone() == (0,)


def test_error_text_search_takes_wildcards_and_quotes_literally(
    app: pgqueue.App, conn: psycopg.Connection[Any]
) -> None:
    from pgqueue.dashboard.queries import search_jobs

    rows = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, state, finished_at, last_error) VALUES "
        "('q', 'app.sale', 'dead', now(), 'ValueError: 50% off_day for \"vip\" [a]'), "
        "('q', 'app.sale', 'dead', now(), 'ValueError: 50X offXday for vip (a)'), "
        "('q', 'app.sale', 'succeeded', now(), NULL) RETURNING id").fetchall()
    literal, lookalike = rows[0][0], rows[1][0]
    ids = lambda found: [r["id"] for r in found.rows]  # noqa: E731
    # scan_ids=1: only the newest (error-free) job is in the window; the rest is by index.
    assert ids(search_jobs(app, q="50% off_day", scan_ids=1)) == [literal]
    assert ids(search_jobs(app, q='"vip" [a]', scan_ids=1)) == [literal]
    assert ids(search_jobs(app, q="offxday", scan_ids=1)) == [lookalike]
    assert ids(search_jobs(app, q="valueerror: 50", scan_ids=1)) == [lookalike, literal]


def test_enqueue_a_job_from_the_task_page(
    app: pgqueue.App, client: TestClient, read_only_client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    @app.task(name="app.mail", queue="emails")
    def mail(user_id: int, subject: str = "") -> None: ...

    page = client.get("/tasks/app.mail").text
    assert 'action="/jobs/enqueue"' in page and 'name="kwargs"' in page
    fields = {"task": "app.mail", "args": "[42]", "kwargs": '{"subject": "Hi [\\"you\\"] <b>"}',
              "queue": "urgent", "priority": "5", "delay": "5m", "next": "/tasks/app.mail"}
    done = _post(client, "/jobs/enqueue", **fields)
    assert done.status_code == 303 and "flash=enqueued+job" in done.headers["location"]
    row = conn.execute("SELECT task, args, kwargs, queue, priority, run_at > now() + interval '4 min' "
                       "FROM pgqueue.jobs WHERE task = 'app.mail'").fetchall()
    assert row == [("app.mail", [42], {"subject": 'Hi ["you"] <b>'}, "urgent", 5, True)]

    def refused(**changes: str) -> str:
        response = _post(client, "/jobs/enqueue", **{**fields, **changes})
        assert response.status_code == 303 and "error=" in response.headers["location"]
        return client.get(response.headers["location"]).text

    assert "args is not valid JSON (Expecting" in refused(args='[1, "<b>x</b>"')
    assert "args must be a JSON array" in refused(args='{"a": 1}')
    assert "kwargs must be a JSON object" in refused(kwargs="[1]")
    unknown = refused(task='app.<nope>"')  # brackets and quotes shown as typed, never markup
    assert "unknown task" in unknown and "&lt;nope&gt;" in unknown and "<nope>" not in unknown
    assert "priority must be a whole number" in refused(priority="high")
    assert "user_id" in refused(args="[]")  # the task's own signature check: a missing argument
    assert conn.execute("SELECT count(*) FROM pgqueue.jobs").fetchone() == (1,)
    # Same guards as every action: the CSRF token, and no form nor POST when read-only.
    assert client.post("/jobs/enqueue", data={**fields}).status_code == 403
    assert 'action="/jobs/enqueue"' not in read_only_client.get("/tasks/app.mail").text
    assert read_only_client.post("/jobs/enqueue", data=fields).status_code == 403
