"""The application's own tables, in the same database as pgqueue's.

Sharing the database is the point: a row and the job that follows from it commit in
one transaction. The tables are created with ``create_all`` to keep the example
short; a real application would own them with its Alembic (pgqueue keeps its own
version table, ``pgqueue.alembic_version``, so the two histories never meet).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

import psycopg
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import pgqueue

WELCOME_INVITE = "WELCOME"
"""An invite code the example seeds with plenty of uses."""


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("invites.code"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    welcomed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Invite(Base):
    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses_left: Mapped[int] = mapped_column(Integer)


class Email(Base):
    """The example's stand-in for a mail server: one row per e-mail "sent".

    ``job_id`` is unique: a job that runs twice (delivery is at least once) sends once.
    """

    __tablename__ = "emails"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending, processed or failed."""
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    words: Mapped[int | None] = mapped_column(Integer)
    lines: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parts: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    """The chord's final job: its result is the report."""
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@cache
def engine(dsn: str | None = None) -> Engine:
    """The SQLAlchemy engine (psycopg 3 driver) on the database pgqueue uses.

    ``dsn`` defaults to pgqueue's rule: PGQUEUE_DSN, else DATABASE_URL, else the
    embedded server. ``creator`` accepts any libpq DSN (URL or key=value).
    """
    target = pgqueue.resolve_dsn(dsn)
    return create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(target), pool_pre_ping=True
    )


def create_all(dsn: str | None = None) -> None:
    """Create the tables if missing and seed the WELCOME invite (idempotent)."""
    eng = engine(dsn)
    Base.metadata.create_all(eng)
    with Session(eng) as session, session.begin():
        session.execute(
            insert(Invite).values(code=WELCOME_INVITE, uses_left=1_000_000).on_conflict_do_nothing()
        )


def rowcount(result: Result[Any]) -> int:
    """Rows touched by an UPDATE/DELETE executed through a Session."""
    return int(cast(CursorResult[Any], result).rowcount)
