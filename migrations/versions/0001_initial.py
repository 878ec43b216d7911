"""Initial schema: jobs, queues, workers, schedules, queue_stats, wake-up trigger.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME_CHECK = "^[A-Za-z0-9_.:-]+$"

UPGRADE = [
    # --- jobs: the hot table -----------------------------------------------------------
    f"""
    CREATE TABLE pgqueue.jobs (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue            text        NOT NULL DEFAULT 'default',
        task             text        NOT NULL,
        args             jsonb       NOT NULL DEFAULT '[]'::jsonb,
        kwargs           jsonb       NOT NULL DEFAULT '{{}}'::jsonb,
        priority         smallint    NOT NULL DEFAULT 0,
        state            text        NOT NULL DEFAULT 'queued',
        attempt          integer     NOT NULL DEFAULT 0,
        max_attempts     integer     NOT NULL DEFAULT 5,
        run_at           timestamptz NOT NULL DEFAULT now(),
        created_at       timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz,
        worker_id        uuid,
        lease_expires_at timestamptz,
        result           jsonb,
        last_error       text,
        errors           jsonb       NOT NULL DEFAULT '[]'::jsonb,
        unique_key       text,
        tags             text[]      NOT NULL DEFAULT '{{}}'::text[],
        CONSTRAINT jobs_queue_name CHECK (
            char_length(queue) BETWEEN 1 AND 128 AND queue ~ '{NAME_CHECK}'),
        CONSTRAINT jobs_task_name CHECK (
            char_length(task) BETWEEN 1 AND 255 AND task ~ '{NAME_CHECK}'),
        CONSTRAINT jobs_state CHECK (
            state IN ('waiting', 'queued', 'running', 'succeeded', 'dead', 'cancelled')),
        CONSTRAINT jobs_args_array CHECK (jsonb_typeof(args) = 'array'),
        CONSTRAINT jobs_kwargs_object CHECK (jsonb_typeof(kwargs) = 'object'),
        CONSTRAINT jobs_errors_array CHECK (jsonb_typeof(errors) = 'array'),
        CONSTRAINT jobs_attempt_nonneg CHECK (attempt >= 0),
        CONSTRAINT jobs_max_attempts_positive CHECK (max_attempts >= 1),
        CONSTRAINT jobs_finished_iff_terminal CHECK (
            (state IN ('succeeded', 'dead', 'cancelled')) = (finished_at IS NOT NULL)),
        CONSTRAINT jobs_running_has_worker CHECK (
            state <> 'running' OR (worker_id IS NOT NULL AND lease_expires_at IS NOT NULL))
    ) WITH (
        -- A queue table churns: every job is inserted, updated two or three times and
        -- deleted. Vacuum it early and often so dead tuples never pile up in the claim path.
        fillfactor = 90,
        autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0.05,
        autovacuum_analyze_scale_factor = 0.02,
        autovacuum_vacuum_cost_delay = 0
    )
    """,
    # The claim query reads only this small partial index: queued rows, in claim order.
    """
    CREATE INDEX jobs_claim_idx ON pgqueue.jobs (queue, priority DESC, run_at, id)
        WHERE state = 'queued'
    """,
    # The rescuer scans running rows by lease expiry.
    """
    CREATE INDEX jobs_lease_idx ON pgqueue.jobs (lease_expires_at)
        WHERE state = 'running'
    """,
    # Unique jobs: at most one live (non-terminal) job per key; no advisory-lock races.
    """
    CREATE UNIQUE INDEX jobs_unique_key_idx ON pgqueue.jobs (unique_key)
        WHERE unique_key IS NOT NULL AND state IN ('waiting', 'queued', 'running')
    """,
    # --- queues: routing and limits ---------------------------------------------------------
    f"""
    CREATE TABLE pgqueue.queues (
        name              text        PRIMARY KEY,
        paused            boolean     NOT NULL DEFAULT false,
        concurrency_limit integer,
        rate_limit        integer,
        rate_period_s     double precision,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT queues_name CHECK (
            char_length(name) BETWEEN 1 AND 128 AND name ~ '{NAME_CHECK}'),
        CONSTRAINT queues_concurrency_positive CHECK (concurrency_limit IS NULL OR concurrency_limit >= 1),
        CONSTRAINT queues_rate_positive CHECK (
            (rate_limit IS NULL AND rate_period_s IS NULL)
            OR (rate_limit >= 1 AND rate_period_s > 0))
    )
    """,
    # --- workers: registry and heartbeat -----------------------------------------------
    """
    CREATE TABLE pgqueue.workers (
        id           uuid        PRIMARY KEY,
        hostname     text        NOT NULL,
        pid          integer     NOT NULL,
        queues       text[]      NOT NULL,
        concurrency  integer     NOT NULL,
        version      text        NOT NULL,
        started_at   timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL,
        stopping     boolean     NOT NULL DEFAULT false,
        meta         jsonb       NOT NULL DEFAULT '{}'::jsonb
    ) WITH (fillfactor = 50)
    """,
    # --- schedules: periodic definitions ------------------------------------------------
    f"""
    CREATE TABLE pgqueue.schedules (
        name         text        PRIMARY KEY,
        task         text        NOT NULL,
        queue        text        NOT NULL DEFAULT 'default',
        cron         text,
        interval_s   double precision,
        timezone     text        NOT NULL DEFAULT 'UTC',
        misfire      text        NOT NULL DEFAULT 'skip',
        args         jsonb       NOT NULL DEFAULT '[]'::jsonb,
        kwargs       jsonb       NOT NULL DEFAULT '{{}}'::jsonb,
        priority     smallint    NOT NULL DEFAULT 0,
        enabled      boolean     NOT NULL DEFAULT true,
        next_fire_at timestamptz,
        last_fire_at timestamptz,
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT schedules_task_name CHECK (
            char_length(task) BETWEEN 1 AND 255 AND task ~ '{NAME_CHECK}'),
        CONSTRAINT schedules_queue_name CHECK (
            char_length(queue) BETWEEN 1 AND 128 AND queue ~ '{NAME_CHECK}'),
        CONSTRAINT schedules_trigger CHECK ((cron IS NULL) <> (interval_s IS NULL)),
        CONSTRAINT schedules_interval_positive CHECK (interval_s IS NULL OR interval_s > 0),
        CONSTRAINT schedules_misfire CHECK (misfire IN ('skip', 'once', 'all'))
    )
    """,
    # --- wake-ups -------------------------------------------------------------------------
    # One NOTIFY per statement and queue (never per row), sent inside the inserting
    # transaction, so a rollback wakes no one. Postgres folds identical notifications of
    # one transaction, so a transaction that enqueues many jobs wakes each queue once.
    # Jobs scheduled for later wake no one early; the workers' timers pick them up.
    """
    CREATE FUNCTION pgqueue.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('pgqueue_jobs', q.queue)
        FROM (SELECT DISTINCT queue FROM new_jobs
              WHERE state = 'queued' AND run_at <= clock_timestamp()) AS q;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER jobs_notify AFTER INSERT ON pgqueue.jobs
        REFERENCING NEW TABLE AS new_jobs
        FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.notify_jobs()
    """,
    # --- inspection -----------------------------------------------------------------------
    """
    CREATE VIEW pgqueue.queue_stats AS
    WITH live AS (
        SELECT queue,
               count(*) FILTER (WHERE state = 'queued' AND run_at <= now()) AS queued,
               count(*) FILTER (WHERE state = 'queued' AND run_at > now())  AS scheduled,
               count(*) FILTER (WHERE state = 'waiting')                    AS waiting,
               count(*) FILTER (WHERE state = 'running')                    AS running,
               min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()) AS oldest_run_at
        FROM pgqueue.jobs
        WHERE state IN ('waiting', 'queued', 'running')
        GROUP BY queue
    ), done AS (
        SELECT queue,
               count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE state = 'dead')      AS dead,
               count(*) FILTER (WHERE state = 'cancelled') AS cancelled
        FROM pgqueue.jobs
        WHERE state IN ('succeeded', 'dead', 'cancelled')
        GROUP BY queue
    ), names AS (
        SELECT queue FROM live UNION SELECT queue FROM done UNION SELECT name FROM pgqueue.queues
    )
    SELECT n.queue,
           coalesce(l.queued, 0)    AS queued,
           coalesce(l.scheduled, 0) AS scheduled,
           coalesce(l.waiting, 0)   AS waiting,
           coalesce(l.running, 0)   AS running,
           coalesce(d.succeeded, 0) AS succeeded,
           coalesce(d.dead, 0)      AS dead,
           coalesce(d.cancelled, 0) AS cancelled,
           now() - l.oldest_run_at  AS oldest_queued_age,
           coalesce(q.paused, false) AS paused,
           q.concurrency_limit,
           q.rate_limit,
           q.rate_period_s
    FROM names n
    LEFT JOIN live l ON l.queue = n.queue
    LEFT JOIN done d ON d.queue = n.queue
    LEFT JOIN pgqueue.queues q ON q.name = n.queue
    """,
]

DOWNGRADE = [
    "DROP VIEW IF EXISTS pgqueue.queue_stats",
    "DROP TRIGGER IF EXISTS jobs_notify ON pgqueue.jobs",
    "DROP FUNCTION IF EXISTS pgqueue.notify_jobs()",
    "DROP TABLE IF EXISTS pgqueue.schedules",
    "DROP TABLE IF EXISTS pgqueue.workers",
    "DROP TABLE IF EXISTS pgqueue.queues",
    "DROP TABLE IF EXISTS pgqueue.jobs",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
