"""Wake-ups for scheduled jobs; per-task rate limits.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

- ``pgqueue.notify_jobs()`` (the statement-level wake-up trigger) also announces jobs
  inserted for later: one NOTIFY per statement and queue with the payload
  ``"<queue> <epoch>"``, the earliest ``run_at`` of that statement's scheduled rows of the
  queue in seconds since the epoch (the database's clock). A worker sets its due-time
  timer from it and claims at that moment, instead of finding the job at its next poll.
  Due jobs still send the bare queue name. Workers of earlier releases ignore the new
  payload (it names no queue they serve) and keep finding scheduled jobs by polling.

- ``pgqueue.task_limits`` (one row per rate-limited task, locked by the claims of its
  jobs so they take turns across every worker) and ``pgqueue.task_starts`` (the start log
  of those tasks over their last period): ``@app.task(rate_limit="10/m")``, enforced at
  claim time like the queues' rate limits (pgqueue/_sql/claim_task*.sql).

Safe beside live workers and old clients: the trigger function's body changes (CREATE OR
REPLACE, no lock on pgqueue.jobs beyond the catalog update); the two tables are new and
empty.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = [
    # Queue names never contain a space (their CHECK constraint), so the payload splits
    # unambiguously. Postgres folds identical notifications of a transaction; scheduled
    # ones differ by time, so a transaction sends one per statement and queue at most.
    """
    CREATE OR REPLACE FUNCTION pgqueue.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('pgqueue.wake', true) = 'off' THEN
            RETURN NULL;
        END IF;
        PERFORM pg_notify('pgqueue_jobs',
                          CASE WHEN q.due THEN q.queue
                               ELSE q.queue || ' ' || extract(epoch FROM q.run_at)::text END)
        FROM (SELECT queue, run_at <= clock_timestamp() AS due, min(run_at) AS run_at
              FROM new_jobs
              WHERE state = 'queued'
              GROUP BY 1, 2) AS q;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TABLE pgqueue.task_limits (
        task       text        PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE pgqueue.task_starts (
        task       text        NOT NULL,
        started_at timestamptz NOT NULL,
        n          integer     NOT NULL,
        CONSTRAINT task_starts_n_positive CHECK (n >= 1)
    )
    """,
    "CREATE INDEX task_starts_idx ON pgqueue.task_starts (task, started_at)",
]

DOWNGRADE = [
    "DROP TABLE IF EXISTS pgqueue.task_starts",
    "DROP TABLE IF EXISTS pgqueue.task_limits",
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


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
