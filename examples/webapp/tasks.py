"""The jobs of the example web application, and the pgqueue App that knows them.

A worker serves them with ``pgqueue work --app examples.webapp.tasks:app``. Every task
is idempotent, because delivery is at least once: a job whose worker dies after the
work but before recording it runs again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

import pgqueue

from .models import Document, Email, Report, User, engine
from .models import rowcount as _rowcount

app = pgqueue.App()  # PGQUEUE_DSN, else DATABASE_URL, else the embedded server

RETENTION = timedelta(days=30)
"""What the nightly cleanup keeps: sent e-mails and finished reports for 30 days."""


class TransientError(Exception):
    """Worth another try: a timeout, a 503, a dropped connection."""


class PermanentError(Exception):
    """Retrying cannot help: the input itself is bad."""


# --- e-mail ----------------------------------------------------------------------------------
def _send(session: Session, job_id: int, recipient: str, subject: str) -> None:
    """"Send" an e-mail: one row per job, so a job that runs twice sends once."""
    session.execute(
        insert(Email)
        .values(job_id=job_id, recipient=recipient, subject=subject)
        .on_conflict_do_nothing(index_elements=[Email.job_id])
    )


@app.task(queue="emails", bind=True, max_attempts=5)
def send_welcome_email(ctx: pgqueue.Context, user_id: int) -> dict[str, Any]:
    """Welcome a new user (enqueued in the signup transaction)."""
    with Session(engine()) as session, session.begin():
        user = session.get(User, user_id)
        if user is None:  # cannot happen for a committed signup; never worth a retry
            ctx.discard(f"user {user_id} does not exist")
        _send(session, ctx.job.id, user.email, f"Welcome, {user.name}!")
        user.welcomed_at = func.now()
        return {"to": user.email}


@app.task(queue="emails", bind=True, priority=pgqueue.HIGH, max_attempts=5)
def send_password_reset(ctx: pgqueue.Context, user_id: int) -> dict[str, Any]:
    """Urgent: runs before every queued welcome e-mail (priority HIGH on the same queue)."""
    with Session(engine()) as session, session.begin():
        user = session.get(User, user_id)
        if user is None:
            ctx.discard(f"user {user_id} does not exist")
        _send(session, ctx.job.id, user.email, "Reset your password")
        return {"to": user.email}


# --- documents -------------------------------------------------------------------------------
def scan_for_viruses(name: str, attempt: int) -> None:
    """Stand-in for an external scanning service that sometimes times out.

    Files named ``flaky*`` time out on their first attempt, so you can watch a retry.
    """
    if name.startswith("flaky") and attempt == 1:
        raise TransientError(f"virus scanner timed out on {name}")


@app.task(
    queue="documents",
    bind=True,
    max_attempts=4,
    timeout=60,
    retry_on=(TransientError,),     # these retry with exponential back-off...
    discard_on=(PermanentError,),   # ...these go to the dead letter at once
    backoff_base=1.0,
)
def process_document(ctx: pgqueue.Context, document_id: int) -> dict[str, Any]:
    """Scan and analyse an uploaded document; its row says how it went."""
    with Session(engine()) as session, session.begin():
        doc = session.get(Document, document_id)
        if doc is None or doc.content is None:
            raise PermanentError(f"document {document_id} has no content")
        try:
            text = doc.content.decode("utf-8")
        except UnicodeDecodeError:
            _mark_failed(document_id, "not a UTF-8 text file")
            raise PermanentError(f"document {document_id} is not a UTF-8 text file") from None
        scan_for_viruses(doc.name, ctx.attempt)
        doc.words = len(text.split())
        doc.lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        doc.status = "processed"
        doc.error = None
        doc.processed_at = func.now()
        return {"document_id": document_id, "words": doc.words, "lines": doc.lines}


def _mark_failed(document_id: int, error: str) -> None:
    # Its own transaction: the task's transaction rolls back when the task raises.
    with Session(engine()) as session, session.begin():
        session.execute(
            update(Document).where(Document.id == document_id).values(status="failed", error=error)
        )


# --- reports: a chord (fan-out over parts, fan-in to assemble) -------------------------------
@app.task(queue="reports")
def count_part(report_id: int, part: int, parts: int) -> dict[str, int]:
    """Count processed documents and their words in one slice (id modulo ``parts``)."""
    with Session(engine()) as session:
        documents, words = session.execute(
            select(func.count(), func.coalesce(func.sum(Document.words), 0)).where(
                Document.status == "processed", Document.id % parts == part
            )
        ).one()
    return {"part": part, "documents": int(documents or 0), "words": int(words or 0)}


@app.task(queue="reports")
def assemble_report(partials: list[dict[str, int]], report_id: int) -> dict[str, Any]:
    """The chord's callback: receives every part's result, in order, and stores the report."""
    totals = {
        "documents": sum(p["documents"] for p in partials),
        "words": sum(p["words"] for p in partials),
        "parts": len(partials),
    }
    with Session(engine()) as session, session.begin():
        session.execute(
            update(Report).where(Report.id == report_id).values(totals=totals, finished_at=func.now())
        )
    return {"report_id": report_id, **totals}


# --- nightly maintenance: a periodic schedule --------------------------------------------------
@app.periodic(cron="0 3 * * *", timezone="UTC")  # every night at 03:00 UTC; one job per night
@app.task(queue="maintenance")
def nightly_cleanup() -> dict[str, int]:
    """Delete sent e-mails and finished reports older than RETENTION, and the content of
    documents processed that long ago."""
    cutoff = datetime.now(UTC) - RETENTION
    with Session(engine()) as session, session.begin():
        emails = _rowcount(session.execute(delete(Email).where(Email.sent_at < cutoff)))
        reports = _rowcount(session.execute(delete(Report).where(Report.finished_at < cutoff)))
        documents = _rowcount(session.execute(
            update(Document)
            .where(Document.processed_at < cutoff, Document.content.is_not(None))
            .values(content=None)
        ))
    return {"emails": emails, "reports": reports, "documents": documents}
