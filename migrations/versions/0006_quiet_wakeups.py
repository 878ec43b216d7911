"""Quiet inserts: an enqueue may ask the wake-up trigger to stay silent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Postgres serialises the commits of transactions that NOTIFY (each holds one
cluster-wide lock from the start of its commit to its end, WAL flush included), so
one NOTIFY per enqueue caps concurrent single enqueues at one commit at a time.
pgqueue's own autocommit enqueues therefore send at most one NOTIFY per queue and
window per process, and cover the others with a NOTIFY sent after they committed
(pgqueue._wake). Such an INSERT sets the transaction-local setting
``pgqueue.wake`` to ``off``; the trigger then sends nothing for that transaction.
Every other insert (SQL, ``conn=``, bulk, workflows) wakes workers exactly as before.

Safe beside live workers and old clients: only the trigger function's body changes
(CREATE OR REPLACE, no lock on pgqueue.jobs beyond the catalog update).
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE OR REPLACE FUNCTION pgqueue.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('pgqueue.wake', true) = 'off' THEN
            RETURN NULL;
        END IF;
        PERFORM pg_notify('pgqueue_jobs', q.queue)
        FROM (SELECT DISTINCT queue FROM new_jobs
              WHERE state = 'queued' AND run_at <= clock_timestamp()) AS q;
        RETURN NULL;
    END
    $$
    """,
]

DOWNGRADE = [
    """
    CREATE OR REPLACE FUNCTION pgqueue.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('pgqueue_jobs', q.queue)
        FROM (SELECT DISTINCT queue FROM new_jobs
              WHERE state = 'queued' AND run_at <= clock_timestamp()) AS q;
        RETURN NULL;
    END
    $$
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
