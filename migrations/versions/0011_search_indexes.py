"""Indexes for the dashboard's search over finished jobs (issue 21).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

- ``jobs_args_search_idx``: GIN (default ``jsonb_ops``) over ``args || kwargs`` of
  finished rows (the positional arguments with the keyword object appended as one more
  element; ``||`` is immutable, ``jsonb_build_array`` is not). It serves a value anywhere
  in the arguments (``args || kwargs @? '$.** ? (@ == 42)'``; ``jsonb_path_ops`` cannot
  serve ``.**``) and containment (``@> '[{"user_id": 42}]'``, ``@> '[42]'``).
  Partial (``finished_at IS NOT NULL``, the predicate of ``jobs_finished_idx``): enqueue
  and claim never write to it, only the completion that ends a job (every update of a
  job row is a non-HOT update, so a full index would be written three times per job).
  Unfinished jobs are searched in the bounded window of newest ids, as before.
- ``jobs_error_search_idx``: trigram GIN over ``last_error`` where it is set, when the
  ``pg_trgm`` extension is available (created in schema ``pgqueue`` if it is not installed
  yet; pg_trgm is a trusted extension, so the database owner may create it). Only failed
  attempts write to it. Without it, error text search stays a bounded scan.

Both built CONCURRENTLY (no write lock on the jobs table). Downgrade drops them, and
drops ``pg_trgm`` only when it lives in schema ``pgqueue`` (this revision put it there).
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

ARGS_INDEX = (
    "CREATE INDEX CONCURRENTLY jobs_args_search_idx ON pgqueue.jobs "
    "USING gin ((args || kwargs)) WHERE finished_at IS NOT NULL"
)
ERROR_INDEX = (
    "CREATE INDEX CONCURRENTLY jobs_error_search_idx ON pgqueue.jobs "
    "USING gin (last_error {schema}.gin_trgm_ops) WHERE last_error IS NOT NULL"
)


def _trigram_schema() -> str | None:
    """The schema holding pg_trgm's operator class, installing the extension into
    ``pgqueue`` when it is available but not installed; None when it cannot be had."""
    if op.get_context().as_sql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA pgqueue")
        return "pgqueue"
    bind = op.get_bind()
    find = text(
        "SELECT n.nspname FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace "
        "JOIN pg_am a ON a.oid = c.opcmethod WHERE c.opcname = 'gin_trgm_ops' AND a.amname = 'gin'"
    )
    schema = bind.execute(find).scalar()
    if schema is not None:
        return str(schema)
    if not bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        log.warning("pg_trgm is not available on this server: error text search stays a bounded scan")
        return None
    try:  # autocommit here: a failure leaves no transaction to roll back
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA pgqueue"))
    except Exception as exc:  # no privilege: the search still works, as a bounded scan
        log.warning("could not create extension pg_trgm (%s): error text search stays a bounded scan",
                    str(exc).splitlines()[0])
        return None
    return "pgqueue"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_args_search_idx")
        op.execute(ARGS_INDEX)
        schema = _trigram_schema()
        if schema is not None:
            op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_error_search_idx")
            op.execute(ERROR_INDEX.format(schema='"' + schema.replace('"', '""') + '"'))


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_error_search_idx")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_args_search_idx")
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension e JOIN pg_namespace n "
        "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm' AND n.nspname = 'pgqueue') "
        "THEN DROP EXTENSION pg_trgm; END IF; END $$"
    )
