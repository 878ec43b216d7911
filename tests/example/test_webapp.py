"""The example web application end to end: HTTP in, real worker processes, rows out."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pgqueue
from tests.example.conftest import ROOT, Stack, child_env
from tests.helpers import wait_for

TASKS = "examples.webapp.tasks."
WAIT_S = 60.0


def finished_job(stack: Stack, job_id: int) -> dict[str, Any]:
    """Poll GET /jobs/{id} as a client would, until the job is finished."""

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = stack.http.get(f"/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "dead", "cancelled") else None

    return wait_for(done, timeout=WAIT_S, interval=0.1)


def signup(stack: Stack, email: str, **extra: str) -> Any:
    return stack.http.post("/signup", json={"email": email, "name": email.split("@")[0], **extra})


def test_signup_commits_the_user_and_the_welcome_email_together(stack: Stack) -> None:
    response = signup(stack, "ada@example.com", invite="WELCOME")
    assert response.status_code == 201, response.text
    user_id, job_id = response.json()["user_id"], response.json()["welcome_job_id"]

    assert finished_job(stack, job_id)["state"] == "succeeded"
    user = stack.http.get(f"/users/{user_id}").json()
    assert user["welcomed_at"] is not None
    assert stack.sql("SELECT recipient, subject FROM emails WHERE job_id = %s", [job_id]) == [
        ("ada@example.com", "Welcome, ada!")
    ]
    assert stack.sql("SELECT uses_left FROM invites WHERE code = 'WELCOME'") == [(999_999,)]


def test_a_failing_signup_leaves_neither_user_nor_job(stack: Stack) -> None:
    def welcome_jobs() -> int:
        rows = stack.sql("SELECT count(*) FROM pgqueue.jobs WHERE task = %s", [TASKS + "send_welcome_email"])
        return int(rows[0][0])  # type: ignore[call-overload]

    before = welcome_jobs()
    # The welcome e-mail is enqueued before the invite is checked: the rollback takes both.
    bad_invite = signup(stack, "bob@example.com", invite="NOT-A-CODE")
    assert bad_invite.status_code == 400 and "not valid" in bad_invite.text
    assert signup(stack, "cy@example.com").status_code == 201
    duplicate = signup(stack, "CY@example.com")
    assert duplicate.status_code == 409

    assert stack.sql("SELECT email FROM users WHERE email IN ('bob@example.com', 'cy@example.com')") == [
        ("cy@example.com",)
    ]
    assert welcome_jobs() == before + 1


def test_uploads_retry_transient_errors_and_dead_letter_permanent_ones(stack: Stack) -> None:
    text = b"one two three\nfour five\n"
    files = {
        "good.txt": text,
        "flaky-notes.txt": text,             # the stand-in virus scanner times out once
        "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01",  # not UTF-8: permanent
    }
    ids = {}
    for name, content in files.items():
        response = stack.http.post("/documents", files={"file": (name, content)})
        assert response.status_code == 202, response.text
        ids[name] = response.json()["document_id"]

    def final(name: str) -> dict[str, Any] | None:
        doc: dict[str, Any] = stack.http.get(f"/documents/{ids[name]}").json()
        return doc if doc["job"]["state"] in ("succeeded", "dead") else None

    good = wait_for(lambda: final("good.txt"), timeout=WAIT_S)
    assert (good["status"], good["words"], good["lines"], good["job"]["attempt"]) == ("processed", 5, 2, 1)

    flaky = wait_for(lambda: final("flaky-notes.txt"), timeout=WAIT_S)
    assert (flaky["status"], flaky["job"]["state"], flaky["job"]["attempt"]) == ("processed", "succeeded", 2)
    assert flaky["job"]["last_error"] == "TransientError: virus scanner timed out on flaky-notes.txt"

    bad = wait_for(lambda: final("photo.jpg"), timeout=WAIT_S)
    assert (bad["status"], bad["error"]) == ("failed", "not a UTF-8 text file")
    assert (bad["job"]["state"], bad["job"]["attempt"]) == ("dead", 1)  # no retry for a permanent error
    assert stack.sql("SELECT count(*) FROM pgqueue.dead_jobs WHERE id = %s", [bad["job"]["id"]]) == [(1,)]


def test_report_is_a_chord_whose_job_the_client_polls(stack: Stack) -> None:
    stack.http.post("/documents", files={"file": ("report-input.txt", b"alpha beta gamma delta")})
    wait_for(lambda: not stack.sql("SELECT 1 FROM documents WHERE status = 'pending'"), timeout=WAIT_S)
    [(documents, words)] = stack.sql(
        "SELECT count(*), sum(words)::int FROM documents WHERE status = 'processed'"
    )

    response = stack.http.post("/reports", json={"parts": 3})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["jobs"] == 4  # three parts, one assembler

    job = finished_job(stack, body["job_id"])
    assert job["state"] == "succeeded", job
    totals = {"documents": documents, "words": words, "parts": 3}
    assert job["result"] == {"report_id": body["report_id"], **totals}
    report = stack.http.get(f"/reports/{body['report_id']}").json()
    assert report["totals"] == totals
    # Fan-out: three part jobs, each released before the assembler, which ran last.
    parts = stack.sql(
        "SELECT finished_at FROM pgqueue.jobs WHERE task = %s AND args->>0 = %s",
        [TASKS + "count_part", str(body["report_id"])],
    )
    [(assembled_started,)] = stack.sql("SELECT started_at FROM pgqueue.jobs WHERE id = %s", [body["job_id"]])
    assert len(parts) == 3 and all(p[0] <= assembled_started for p in parts)  # type: ignore[operator]


def test_password_resets_jump_the_email_queue(stack: Stack) -> None:
    with pgqueue.App(dsn=stack.dsn) as pq:
        pq.queues.pause("emails")
        try:
            signups = [signup(stack, f"user{i}@example.com").json() for i in range(6)]
            welcomes = [s["welcome_job_id"] for s in signups]
            reset = stack.http.post(f"/users/{signups[0]['user_id']}/password-reset")
            assert reset.status_code == 202
            reset_id = reset.json()["job_id"]
        finally:
            pq.queues.resume("emails")
    assert finished_job(stack, reset_id)["priority"] == pgqueue.HIGH
    for job_id in welcomes:
        finished_job(stack, job_id)
    # Enqueued last, claimed first: no welcome e-mail started before the reset.
    [(first_welcome,)] = stack.sql("SELECT min(started_at) FROM pgqueue.jobs WHERE id = ANY(%s)", [welcomes])
    [(reset_started,)] = stack.sql("SELECT started_at FROM pgqueue.jobs WHERE id = %s", [reset_id])
    assert reset_started <= first_welcome  # type: ignore[operator]


def test_nightly_cleanup_is_a_periodic_schedule(stack: Stack) -> None:
    name = TASKS + "nightly_cleanup"
    assert stack.sql("SELECT cron, timezone, queue FROM pgqueue.schedules WHERE name = %s", [name]) == [
        ("0 3 * * *", "UTC", "maintenance")
    ]
    stack.sql("INSERT INTO emails (job_id, recipient, subject, sent_at) "
              "VALUES (-1, 'old@example.com', 'old', now() - interval '40 days')")
    # Run tonight's job now, as an operator would.
    out = subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "schedules", "run-now", name, "--json"],
        cwd=ROOT, env=child_env(stack.dsn), capture_output=True, text=True, timeout=60, check=True,
    )
    job = finished_job(stack, json.loads(out.stdout)["job_id"])
    assert job["state"] == "succeeded" and job["result"]["emails"] == 1, job
    assert stack.sql("SELECT count(*) FROM emails WHERE job_id = -1") == [(0,)]
