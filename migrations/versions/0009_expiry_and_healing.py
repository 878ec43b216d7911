"""Job expiry, error callbacks, and workflows that heal when a failed step is retried.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

- ``jobs.expires_at`` (nullable, no default): a job still queued at that time is ended at
  claim time without running (state ``cancelled``, an ``errors`` entry of type
  ``pgqueue.JobExpired``); the claim statements enforce it (pgqueue/_sql/claim*.sql).
- ``dependency_args = 'error'`` marks an error callback (``link_error``): it waits for the
  jobs it watches and is released by the first of them that ends dead or cancelled, with
  that job's id and error as its first two arguments; when all of them succeed it is
  cancelled as not needed. ``pgqueue.release_dependents()`` is replaced to do that (and
  fires error callbacks before it cancels dependents, so a callback names the job that
  failed, not the first one cancelled in its wake).
- ``pgqueue.rearm_dependents()``: when a dead or cancelled job with dependents goes back to
  ``queued``/``waiting`` (a retry), the dependents that were cancelled because of it wait
  for it again; the trigger cascades down the cancelled tail.

Safe beside live workers: a nullable column without default is a catalog change (no
rewrite); the CHECK constraint is re-added NOT VALID (no scan); functions and triggers are
swapped in one transaction under the migration's lock_timeout.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RELEASE_0009 = """
CREATE OR REPLACE FUNCTION pgqueue.release_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    satisfied boolean := NEW.state = 'succeeded';
    q record;
BEGIN
    IF NOT satisfied THEN
        -- Error callbacks first: released with this job's id and error in front of their
        -- own arguments. Done before the cancellations below, whose triggers would
        -- otherwise release them naming a job cancelled in this one's wake.
        FOR q IN
            WITH fired AS (
                UPDATE pgqueue.jobs j
                   SET state = 'queued', pending_dependencies = 0,
                       run_at = greatest(j.run_at, now()),
                       args = jsonb_build_array(
                                  NEW.id,
                                  coalesce(NEW.last_error,
                                           format('job %s ended %s', NEW.id, NEW.state)))
                              || j.args
                  FROM pgqueue.job_dependencies d
                 WHERE d.depends_on = NEW.id AND j.id = d.job_id
                   AND j.state = 'waiting' AND j.dependency_args = 'error'
                RETURNING j.queue
            )
            SELECT DISTINCT queue FROM fired
        LOOP
            PERFORM pg_notify('pgqueue_jobs', q.queue);
        END LOOP;

        -- Dependents that must not run are cancelled (this cascades, since a cancelled
        -- dependent with dependents fires this trigger in turn). last_error names this
        -- job: pgqueue.rearm_dependents() finds them by it when this job is retried.
        UPDATE pgqueue.jobs j
           SET state = 'cancelled', finished_at = now(), pending_dependencies = 0,
               last_error = format('dependency %s ended %s', NEW.id, NEW.state)
          FROM pgqueue.job_dependencies d
         WHERE d.depends_on = NEW.id AND j.id = d.job_id
           AND j.state = 'waiting' AND j.on_dependency_failure = 'cancel'
           AND j.dependency_args IS DISTINCT FROM 'error';
    ELSE
        -- Error callbacks whose every watched job succeeded are not needed.
        UPDATE pgqueue.jobs j
           SET pending_dependencies = j.pending_dependencies - 1,
               state = CASE WHEN j.pending_dependencies = 1 THEN 'cancelled' ELSE j.state END,
               finished_at = CASE WHEN j.pending_dependencies = 1 THEN now() END,
               last_error = CASE WHEN j.pending_dependencies = 1
                                 THEN 'not needed: every job it watched succeeded' END
          FROM pgqueue.job_dependencies d
         WHERE d.depends_on = NEW.id AND j.id = d.job_id
           AND j.state = 'waiting' AND j.dependency_args = 'error';
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
               AND j.dependency_args IS DISTINCT FROM 'error'
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
"""

RELEASE_0003 = """
CREATE OR REPLACE FUNCTION pgqueue.release_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    satisfied boolean := NEW.state = 'succeeded';
    q record;
BEGIN
    IF NOT satisfied THEN
        UPDATE pgqueue.jobs j
           SET state = 'cancelled', finished_at = now(), pending_dependencies = 0,
               last_error = format('dependency %s ended %s', NEW.id, NEW.state)
          FROM pgqueue.job_dependencies d
         WHERE d.depends_on = NEW.id AND j.id = d.job_id
           AND j.state = 'waiting' AND j.on_dependency_failure = 'cancel';
    END IF;
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
"""

UPGRADE = [
    "ALTER TABLE pgqueue.jobs ADD COLUMN expires_at timestamptz",
    """
    ALTER TABLE pgqueue.jobs
        DROP CONSTRAINT IF EXISTS jobs_dependency_args,
        ADD CONSTRAINT jobs_dependency_args
            CHECK (dependency_args IS NULL OR dependency_args IN ('first', 'list', 'error'))
            NOT VALID
    """,
    RELEASE_0009,
    # A retried job's dependents that were cancelled because a dependency failed wait
    # again. They are recognised by the last_error release_dependents() gave them (an
    # operator's cancel reads differently); it may name another parent, one that failed
    # first and was retried already. One that a failed dependency still blocks stays
    # cancelled (the retry of that one re-arms it). pending_dependencies is recounted
    # from the parents' states, which this AFTER trigger sees as updated by its
    # statement. Each re-armed job that has dependents of its own fires this trigger in
    # turn, so the whole tail comes back.
    """
    CREATE FUNCTION pgqueue.rearm_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE pgqueue.jobs j
           SET state = 'waiting', finished_at = NULL, last_error = NULL,
               pending_dependencies = (
                   SELECT count(*) FROM pgqueue.job_dependencies d2
                     JOIN pgqueue.jobs p ON p.id = d2.depends_on
                    WHERE d2.job_id = j.id AND p.state <> 'succeeded')
          FROM pgqueue.job_dependencies d
         WHERE d.depends_on = NEW.id AND j.id = d.job_id
           AND j.state = 'cancelled'
           AND j.last_error ~ '^dependency [0-9]+ ended (dead|cancelled)$'
           AND NOT EXISTS (
               SELECT FROM pgqueue.job_dependencies d3
                 JOIN pgqueue.jobs p3 ON p3.id = d3.depends_on
                WHERE d3.job_id = j.id AND p3.id <> NEW.id
                  AND p3.state IN ('dead', 'cancelled'));
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER jobs_rearm_dependents
        AFTER UPDATE OF state ON pgqueue.jobs
        FOR EACH ROW
        WHEN (NEW.has_dependents AND OLD.state IN ('dead', 'cancelled')
              AND NEW.state IN ('queued', 'waiting'))
        EXECUTE FUNCTION pgqueue.rearm_dependents()
    """,
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS jobs_rearm_dependents ON pgqueue.jobs",
    "DROP FUNCTION IF EXISTS pgqueue.rearm_dependents()",
    RELEASE_0003,
    """
    ALTER TABLE pgqueue.jobs
        DROP CONSTRAINT IF EXISTS jobs_dependency_args,
        ADD CONSTRAINT jobs_dependency_args
            CHECK (dependency_args IS NULL OR dependency_args IN ('first', 'list')) NOT VALID
    """,
    "ALTER TABLE pgqueue.jobs DROP COLUMN IF EXISTS expires_at",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
