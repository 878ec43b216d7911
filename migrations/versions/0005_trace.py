"""Trace context on jobs: the OpenTelemetry context of the enqueue, for the worker's span.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Safe beside live workers: one nullable column without a default is a catalog-only
change (no rewrite, no scan); the ACCESS EXCLUSIVE lock it takes is held for
milliseconds and waits at most the migration's lock_timeout.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = [
    # W3C trace context ({"traceparent": ..., "tracestate": ...}) written by the enqueue's
    # span when tracing is on (pgqueue._tracing); NULL otherwise, so plain jobs store nothing.
    "ALTER TABLE pgqueue.jobs ADD COLUMN IF NOT EXISTS trace jsonb",
]

DOWNGRADE = [
    "ALTER TABLE pgqueue.jobs DROP COLUMN IF EXISTS trace",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
