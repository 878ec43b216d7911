"""Time and flow: cron tick slots, job dependencies (chains, groups, chords), progress.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Safe beside live workers: new columns have constant defaults (catalog-only, no
rewrite); the new tables start empty. The dependency trigger fires only for rows
that have dependents (a WHEN clause on a column), so plain jobs pay nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    "ALTER TABLE pgqueue.jobs ADD COLUMN has_dependents boolean NOT NULL DEFAULT false",
    "ALTER TABLE pgqueue.jobs ADD COLUMN pending_dependencies integer NOT NULL DEFAULT 0",
    "ALTER TABLE pgqueue.jobs ADD COLUMN on_dependency_failure text NOT NULL DEFAULT 'cancel'",
    "ALTER TABLE pgqueue.jobs ADD COLUMN dependency_args text",
    "ALTER TABLE pgqueue.jobs ADD COLUMN progress jsonb",
    """
    ALTER TABLE pgqueue.jobs
        ADD CONSTRAINT jobs_on_dependency_failure
            CHECK (on_dependency_failure IN ('cancel', 'run')) NOT VALID,
        ADD CONSTRAINT jobs_dependency_args
            CHECK (dependency_args IS NULL OR dependency_args IN ('first', 'list')) NOT VALID,
        ADD CONSTRAINT jobs_pending_dependencies_nonneg
            CHECK (pending_dependencies >= 0) NOT VALID
    """,
    # Edges of the dependency graph: job_id waits for depends_on. position orders the
    # results a chord callback receives. No FK on depends_on: pruning a finished parent
    # must not be blocked by (or cascade into) its dependents' history.
    """
    CREATE TABLE pgqueue.job_dependencies (
        job_id     bigint  NOT NULL REFERENCES pgqueue.jobs (id) ON DELETE CASCADE,
        depends_on bigint  NOT NULL,
        position   integer NOT NULL DEFAULT 0,
        PRIMARY KEY (depends_on, job_id)
    )
    """,
    "CREATE INDEX job_dependencies_job_idx ON pgqueue.job_dependencies (job_id, position)",
    # One row per schedule and fire time: the primary key is what makes a tick fire exactly
    # once however many schedulers race for it (the job is inserted in the same transaction).
    """
    CREATE TABLE pgqueue.schedule_ticks (
        schedule  text        NOT NULL REFERENCES pgqueue.schedules (name) ON DELETE CASCADE,
        fire_at   timestamptz NOT NULL,
        job_id    bigint,
        fired_at  timestamptz NOT NULL DEFAULT now(),
        fired_by  uuid,
        PRIMARY KEY (schedule, fire_at)
    )
    """,
    # Releasing dependents happens in the transaction that finishes their last dependency,
    # whoever finishes it (worker completion, rescue, cancel, an operator's UPDATE).
    """
    CREATE FUNCTION pgqueue.release_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        satisfied boolean := NEW.state = 'succeeded';
        q record;
    BEGIN
        -- Failed parents: dependents that must not run are cancelled (this cascades,
        -- since a cancelled dependent with dependents fires this trigger in turn).
        IF NOT satisfied THEN
            UPDATE pgqueue.jobs j
               SET state = 'cancelled', finished_at = now(), pending_dependencies = 0,
                   last_error = format('dependency %s ended %s', NEW.id, NEW.state)
              FROM pgqueue.job_dependencies d
             WHERE d.depends_on = NEW.id AND j.id = d.job_id
               AND j.state = 'waiting' AND j.on_dependency_failure = 'cancel';
        END IF;

        -- One UPDATE both counts down and releases: a row may not be updated twice in
        -- one statement, and j.pending_dependencies below is the value before this update.
        FOR q IN
            WITH released AS (
                UPDATE pgqueue.jobs j
                   SET pending_dependencies = j.pending_dependencies - 1,
                       state = CASE WHEN j.pending_dependencies = 1 THEN 'queued' ELSE j.state END,
                       run_at = CASE WHEN j.pending_dependencies = 1
                                     THEN greatest(j.run_at, now()) ELSE j.run_at END,
                       args = CASE
                           WHEN j.pending_dependencies <> 1 THEN j.args
                           WHEN j.dependency_args = 'first' THEN jsonb_build_array(
                               (SELECT p.result FROM pgqueue.job_dependencies d2
                                  JOIN pgqueue.jobs p ON p.id = d2.depends_on
                                 WHERE d2.job_id = j.id ORDER BY d2.position LIMIT 1)) || j.args
                           WHEN j.dependency_args = 'list' THEN jsonb_build_array(
                               (SELECT coalesce(jsonb_agg(p.result ORDER BY d2.position), '[]'::jsonb)
                                  FROM pgqueue.job_dependencies d2
                                  JOIN pgqueue.jobs p ON p.id = d2.depends_on
                                 WHERE d2.job_id = j.id)) || j.args
                           ELSE j.args END
                  FROM pgqueue.job_dependencies d
                 WHERE d.depends_on = NEW.id AND j.id = d.job_id AND j.state = 'waiting'
                   AND (satisfied OR j.on_dependency_failure = 'run')
                RETURNING j.queue, j.state
            )
            SELECT DISTINCT queue FROM released WHERE state = 'queued'
        LOOP
            PERFORM pg_notify('pgqueue_jobs', q.queue);
        END LOOP;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER jobs_release_dependents
        AFTER UPDATE OF state ON pgqueue.jobs
        FOR EACH ROW
        WHEN (NEW.has_dependents AND NEW.state IN ('succeeded', 'dead', 'cancelled')
              AND OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION pgqueue.release_dependents()
    """,
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS jobs_release_dependents ON pgqueue.jobs",
    "DROP FUNCTION IF EXISTS pgqueue.release_dependents()",
    "DROP TABLE IF EXISTS pgqueue.schedule_ticks",
    "DROP TABLE IF EXISTS pgqueue.job_dependencies",
    """
    ALTER TABLE pgqueue.jobs
        DROP CONSTRAINT IF EXISTS jobs_on_dependency_failure,
        DROP CONSTRAINT IF EXISTS jobs_dependency_args,
        DROP CONSTRAINT IF EXISTS jobs_pending_dependencies_nonneg,
        DROP COLUMN IF EXISTS progress,
        DROP COLUMN IF EXISTS dependency_args,
        DROP COLUMN IF EXISTS on_dependency_failure,
        DROP COLUMN IF EXISTS pending_dependencies,
        DROP COLUMN IF EXISTS has_dependents
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
