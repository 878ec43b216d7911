"""Limits enforced in the database: the rate-limit start log, one running job per serial key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Safe beside live workers: a new, empty table, a row trigger whose WHEN clause only
passes rows with a serial key, and a partial unique index built
CONCURRENTLY (no write lock on the jobs table). Only rows with a serial key enter
the index, so jobs without one never pay for it. Every statement is idempotent, so a
run interrupted between the transactional part and the index build can be repeated.
The index build fails if some serial key already has two running jobs (possible only
for rows written by hand before this revision); let them finish and run it again.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = [
    # The sliding-window rate limit: one row per claim that started jobs of a
    # rate-limited queue (n jobs at started_at, the database clock read under the
    # queue's row lock). A claim counts the starts of the last period from here and
    # deletes the rows that fell out of it, so the table holds at most one period of
    # history per queue. Only limited queues write here; the fast claim never does.
    """
    CREATE TABLE IF NOT EXISTS pgqueue.queue_starts (
        queue      text        NOT NULL,
        started_at timestamptz NOT NULL,
        n          integer     NOT NULL,
        CONSTRAINT queue_starts_n_positive CHECK (n >= 1)
    )
    """,
    "CREATE INDEX IF NOT EXISTS queue_starts_idx ON pgqueue.queue_starts (queue, started_at)",
    # When a job with a serial key finishes, the next job of its key may run: wake the
    # workers of its queue (one NOTIFY per queue and transaction, folded at commit),
    # whoever finished it (completion, rescue, cancel, an operator's UPDATE). The WHEN
    # clause reads two columns of the row, so jobs without a key never call the function.
    """
    CREATE OR REPLACE FUNCTION pgqueue.notify_serial_release() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('pgqueue_jobs', NEW.queue);
        RETURN NULL;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS jobs_serial_release ON pgqueue.jobs",
    """
    CREATE TRIGGER jobs_serial_release
        AFTER UPDATE OF state ON pgqueue.jobs
        FOR EACH ROW
        WHEN (OLD.serial_key IS NOT NULL AND NEW.state IN ('succeeded', 'dead', 'cancelled')
              AND OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION pgqueue.notify_serial_release()
    """,
]

# Serial-per-key, airtight: the claim's own check reads a snapshot, so two claims
# racing over different jobs of one key (a lower id committed late, an old job
# retried) could both pass it. A unique index is checked against the latest row
# versions, not a snapshot: the losing claim fails and is retried by the worker.
INDEXES = [
    (
        "jobs_serial_running_idx",
        "CREATE UNIQUE INDEX CONCURRENTLY jobs_serial_running_idx ON pgqueue.jobs (serial_key) "
        "WHERE serial_key IS NOT NULL AND state = 'running'",
    ),
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS jobs_serial_release ON pgqueue.jobs",
    "DROP FUNCTION IF EXISTS pgqueue.notify_serial_release()",
    "DROP INDEX IF EXISTS pgqueue.jobs_serial_running_idx",
    "DROP TABLE IF EXISTS pgqueue.queue_starts",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)
    with op.get_context().autocommit_block():
        for name, create in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS pgqueue.{name}")
            op.execute(create)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
