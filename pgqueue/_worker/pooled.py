"""How the worker's pooled connections (claims, completions, heartbeats) are set up.

Each new connection gets the fast ``jsonb`` loader (:mod:`.jsonb`) for the columns every
claim returns. Server-side prepared statements stay off (as everywhere in pgqueue, see
:data:`pgqueue._db.PREPARE_THRESHOLD`), even on a direct connection where they would be
safe: measured, after five executions Postgres switched the batched completion to a
generic plan that reads the whole ``jobs_lease_idx`` (the statistics say one running
row), and with a long history each completion took seconds instead of a millisecond.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .jsonb import use_fast_jsonb


def configure(conn: psycopg.Connection[Any]) -> None:
    """The pool's ``configure`` hook for a worker's connections."""
    use_fast_jsonb(conn)
