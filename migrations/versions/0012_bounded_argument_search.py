"""Argument search through a bounded set of index keys.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Migration 0011's ``jobs_args_search_idx`` (GIN, ``jsonb_ops`` over ``args || kwargs`` of
finished rows) grows without bound on a queue whose arguments carry unique values (ids,
timestamps, e-mail addresses: most queues). A GIN index keeps one entry-tree key per
distinct value ever indexed; VACUUM empties the keys' lists of rows but never deletes
entry-tree pages, so under retention (rows deleted as fast as they finish) the index
grew by ~6 MB a minute at 2,000 jobs/s while the table and its other indexes stayed flat
(the 30-minute soak, docs/reliability.md).

This revision replaces it:

- ``pgqueue.search_tokens(jsonb) -> integer[]``: one token per distinct scalar value
  anywhere in a document (strings by their text, numbers by their canonical text, so
  ``42`` and ``42.0`` agree; booleans; not nulls), hashed into 65,536 buckets.
  IMMUTABLE, STRICT, PARALLEL SAFE.
- ``jobs_args_tokens_idx``: GIN over ``pgqueue.search_tokens(args || kwargs)`` of
  finished rows that have arguments (a job without any writes nothing to it; one with
  arguments pays the token function, about 10 microseconds, in the completion that ends
  it). Its keys are at most 65,536 integers whatever the arguments, so the entry tree
  stops growing once it holds them; the lists of rows under each key are
  what VACUUM cleans. A search asks for the query's tokens and rechecks the real
  condition (containment, or a value at any depth) on the rows it finds, so a bucket
  shared by other values costs a few extra rows read, never a wrong answer.

Both built or dropped CONCURRENTLY (no write lock on the jobs table). Workers of the
previous release keep working: no statement of theirs names either index (their dashboard
search of arguments below the newest ids falls back to a scan until they are upgraded).
Downgrade rebuilds 0011's index and drops the new one and the function.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TOKENS_FUNCTION = """
CREATE OR REPLACE FUNCTION pgqueue.search_tokens(doc jsonb) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT t.token), '{}'::integer[])
    FROM (SELECT (hashtextextended(
                      CASE jsonb_typeof(v) WHEN 'number' THEN trim_scale(v::numeric)::text
                                           ELSE v #>> '{}' END, 0) & 65535)::integer AS token
          FROM jsonb_path_query(doc, 'strict $.**') AS v
          WHERE jsonb_typeof(v) IN ('string', 'number', 'boolean')) AS t
$$
"""
TOKENS_INDEX = (
    "CREATE INDEX CONCURRENTLY jobs_args_tokens_idx ON pgqueue.jobs "
    "USING gin (pgqueue.search_tokens(args || kwargs)) "
    "WHERE finished_at IS NOT NULL AND (args <> '[]'::jsonb OR kwargs <> '{}'::jsonb)"
)
ARGS_INDEX = (
    "CREATE INDEX CONCURRENTLY jobs_args_search_idx ON pgqueue.jobs "
    "USING gin ((args || kwargs)) WHERE finished_at IS NOT NULL"
)


def upgrade() -> None:
    op.execute(TOKENS_FUNCTION)
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_args_tokens_idx")  # a failed build
        op.execute(TOKENS_INDEX)
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_args_search_idx")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_args_search_idx")
        op.execute(ARGS_INDEX)
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS pgqueue.jobs_args_tokens_idx")
    op.execute("DROP FUNCTION IF EXISTS pgqueue.search_tokens(jsonb)")
