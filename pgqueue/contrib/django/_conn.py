"""Django's database connection as ``conn=``: the psycopg 3 connection underneath it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import TupleRow

from pgqueue.errors import UnsupportedConnection


def psycopg_connection(conn: Any) -> psycopg.Connection[TupleRow]:
    """The psycopg connection behind ``django.db.connection`` or ``connections[alias]``.

    Opens Django's connection if it is not open yet (as its next query would). Inside
    ``transaction.atomic()`` Django has begun a transaction on it, so a job written there
    commits or rolls back with the block; outside one Django runs in autocommit and the job
    commits at once. Raises UnsupportedConnection for a non-PostgreSQL database or
    Django's psycopg2 backend, and from async code (Django's connection is per thread).
    """
    vendor = getattr(conn, "vendor", None)
    if vendor != "postgresql":
        raise UnsupportedConnection(f"conn= is a Django {vendor} connection; pgqueue needs PostgreSQL")
    conn.ensure_connection()
    raw = conn.connection
    if not isinstance(raw, psycopg.Connection):
        raise UnsupportedConnection(
            "conn= is a Django connection on psycopg2; pgqueue needs Django's psycopg 3 backend "
            "(pip install psycopg; Django >= 4.2 picks it)"
        )
    return raw
