"""The web application: it enqueues and never waits.

Run it with ``uvicorn examples.webapp.web:api`` (``make example`` does, with a worker
and the dashboard). Endpoints:

- ``POST /signup``: the user and their welcome e-mail commit together, or neither does;
- ``POST /users/{id}/password-reset``: an urgent e-mail (priority HIGH);
- ``POST /documents``: upload a file; processing retries transient errors, and sends
  permanent ones to the dead letter;
- ``POST /reports``: a chord over the documents; returns the job id to poll;
- ``GET /jobs/{id}``: any job's state and result, for polling clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import pgqueue
from pgqueue.workflow import chord, group

from .models import Document, Invite, Report, User, create_all, engine, rowcount
from .tasks import (
    app as queue,
)
from .tasks import (
    assemble_report,
    count_part,
    process_document,
    send_password_reset,
    send_welcome_email,
)

MAX_UPLOAD_BYTES = 512 * 1024

@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    create_all()  # the example's tables (a real application runs its Alembic migrations)
    yield
    queue.close()
    engine().dispose()


api = FastAPI(title="pgqueue example: signups, documents, reports", lifespan=lifespan)


def db() -> Iterator[Session]:
    """One Session per request; nothing is committed unless the endpoint commits."""
    with Session(engine()) as session:
        yield session


DB = Annotated[Session, Depends(db)]


class SignupIn(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=200)
    invite: str | None = None


class ReportIn(BaseModel):
    parts: int = Field(default=4, ge=1, le=64)


@api.get("/")
def index() -> dict[str, Any]:
    return {
        "app": "pgqueue example",
        "endpoints": [
            "POST /signup", "GET /users/{id}", "POST /users/{id}/password-reset",
            "POST /documents", "GET /documents/{id}", "POST /reports", "GET /reports/{id}",
            "GET /jobs/{id}",
        ],
    }


@api.get("/healthz")
def healthz() -> str:
    return "ok"


@api.post("/signup", status_code=201)
def signup(body: SignupIn, session: DB) -> dict[str, Any]:
    """Insert the user and enqueue the welcome e-mail in one transaction.

    The invite is redeemed after the enqueue, so a bad invite shows the rollback at
    work: no user row, no job, and no worker ever woken.
    """
    user = User(email=body.email.lower(), name=body.name)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise HTTPException(409, f"{body.email} already has an account") from None
    job = send_welcome_email.configure(conn=session).enqueue(user.id)
    if body.invite is not None:
        redeemed = rowcount(session.execute(
            update(Invite)
            .where(Invite.code == body.invite, Invite.uses_left > 0)
            .values(uses_left=Invite.uses_left - 1)
        ))
        if not redeemed:
            session.rollback()  # the user and the welcome e-mail go with it
            raise HTTPException(400, f"invite {body.invite!r} is not valid")
        user.invited_by = body.invite
    session.commit()
    return {"user_id": user.id, "welcome_job_id": job.id}


@api.get("/users/{user_id}")
def get_user(user_id: int, session: DB) -> dict[str, Any]:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"no user {user_id}")
    return {"id": user.id, "email": user.email, "name": user.name, "welcomed_at": user.welcomed_at}


@api.post("/users/{user_id}/password-reset", status_code=202)
def password_reset(user_id: int, session: DB) -> dict[str, Any]:
    """Urgent e-mails share the ``emails`` queue and jump it: priority HIGH (task default)."""
    if session.get(User, user_id) is None:
        raise HTTPException(404, f"no user {user_id}")
    job = send_password_reset.configure(conn=session).enqueue(user_id)
    session.commit()
    return {"job_id": job.id}


@api.post("/documents", status_code=202)
def upload_document(file: UploadFile, session: DB) -> dict[str, Any]:
    """Store the upload and enqueue its processing; answers before any processing."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"files are limited to {MAX_UPLOAD_BYTES} bytes")
    doc = Document(name=file.filename or "upload", content=content, status="pending")
    session.add(doc)
    session.flush()
    doc.job_id = process_document.configure(conn=session).enqueue(doc.id).id
    session.commit()
    return {"document_id": doc.id, "job_id": doc.job_id}


@api.get("/documents/{document_id}")
def get_document(document_id: int, session: DB) -> dict[str, Any]:
    doc = session.get(Document, document_id)
    if doc is None:
        raise HTTPException(404, f"no document {document_id}")
    out: dict[str, Any] = {
        "id": doc.id, "name": doc.name, "status": doc.status, "words": doc.words,
        "lines": doc.lines, "error": doc.error, "job": None,
    }
    if doc.job_id is not None:
        out["job"] = _job(doc.job_id)
        if out["job"]["state"] == "dead" and doc.status == "pending":
            out["status"] = "failed"  # transient errors until the attempts ran out
            out["error"] = out["job"]["last_error"]
    return out


@api.post("/reports", status_code=202)
def create_report(body: ReportIn, session: DB) -> dict[str, Any]:
    """Fan out one job per part, fan in to assemble; the client polls ``GET /jobs/{job_id}``."""
    report = Report(parts=body.parts)
    session.add(report)
    session.flush()
    flow = chord(
        group(count_part.s(report.id, part, body.parts) for part in range(body.parts)),
        assemble_report.s(report.id),
    )
    handle = flow.enqueue(conn=session)  # the report row and its jobs commit together
    report.job_id = handle.final[0].id
    session.commit()
    return {"report_id": report.id, "job_id": report.job_id, "jobs": len(handle.jobs)}


@api.get("/reports/{report_id}")
def get_report(report_id: int, session: DB) -> dict[str, Any]:
    report = session.get(Report, report_id)
    if report is None:
        raise HTTPException(404, f"no report {report_id}")
    return {"id": report.id, "parts": report.parts, "totals": report.totals,
            "finished_at": report.finished_at, "job_id": report.job_id}


@api.get("/jobs/{job_id}")
def get_job(job_id: int) -> dict[str, Any]:
    """What a polling client needs: state, and the result once it succeeded."""
    return _job(job_id)


def _job(job_id: int) -> dict[str, Any]:
    try:
        row = queue.job(job_id).refresh().row
    except pgqueue.errors.JobNotFound:
        raise HTTPException(404, f"no job {job_id}") from None
    return {
        "id": row.id, "task": row.task, "queue": row.queue, "priority": row.priority,
        "state": row.state.value, "attempt": row.attempt, "max_attempts": row.max_attempts,
        "result": row.result, "last_error": row.last_error,
    }
