"""Electing one worker for a maintenance duty with transaction-scoped advisory locks.

``pg_try_advisory_xact_lock`` is enough: the lock lives exactly as long as the
transaction that does the work, needs no cleanup after a crash, and never blocks. The
duties themselves stay safe without it (their statements re-check the rows they
change); the election only saves every process doing the same work at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from .._sql import query

_NAMESPACE = b"pgqueue:"


def lock_key(duty: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``duty`` (e.g. "rescuer", "retention")."""
    digest = hashlib.blake2b(_NAMESPACE + duty.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def leader(conn: psycopg.Connection[Any], duty: str) -> Iterator[bool]:
    """Open a transaction on ``conn`` and try to become ``duty``'s leader for its length.

    Yields True when elected: do the duty's work inside the ``with`` block, on the
    same connection. Yields False when another process holds the duty right now.
    """
    with conn.transaction():
        row = conn.execute(query("election_try"), {"lock_key": lock_key(duty)}).fetchone()
        yield bool(row and row[0])
