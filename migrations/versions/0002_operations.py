"""Operations: inspection views, pruning and limit columns, cancellation flag.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Safe beside live workers: new columns are nullable without a default (catalog-only
change, no table rewrite), indexes are built CONCURRENTLY outside the transaction,
and every statement is idempotent so a run interrupted between the transactional
part and the index builds can simply be repeated.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The 0001 view, verbatim, so a downgrade restores exactly what 0001 created.
QUEUE_STATS_0001 = """
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
    """

# Every count reads a small index except "succeeded", the finished history that can
# hold millions of rows: below SAMPLE_PAGES heap pages it is counted exactly, above it
# estimated from a block sample of about SAMPLE_PAGES pages (TABLESAMPLE SYSTEM), scaled
# by the sampled fraction; `succeeded_estimated` says which. Dead and cancelled stay
# exact (the dead letter is an alerting signal; both are read from jobs_finished_idx).
QUEUE_STATS = """
    CREATE VIEW pgqueue.queue_stats AS
    WITH sample AS (
        SELECT least(100.0, 100.0 * 1000
                     / greatest(1, pg_relation_size('pgqueue.jobs'::regclass)
                                   / current_setting('block_size')::bigint))::real AS pct
    ), queued AS (
        SELECT queue,
               count(*) FILTER (WHERE run_at <= now()) AS queued,
               count(*) FILTER (WHERE run_at > now())  AS scheduled,
               min(run_at) FILTER (WHERE run_at <= now()) AS oldest_run_at
        FROM pgqueue.jobs WHERE state = 'queued' GROUP BY queue
    ), running AS (
        SELECT queue, count(*) AS running
        FROM pgqueue.jobs WHERE state = 'running' GROUP BY queue
    ), waiting AS (
        SELECT queue, count(*) AS waiting
        FROM pgqueue.jobs WHERE state = 'waiting' GROUP BY queue
    ), failed AS (
        SELECT queue,
               count(*) FILTER (WHERE state = 'dead')      AS dead,
               count(*) FILTER (WHERE state = 'cancelled') AS cancelled
        FROM pgqueue.jobs
        WHERE state IN ('dead', 'cancelled') AND finished_at IS NOT NULL
        GROUP BY queue
    ), succeeded AS (
        SELECT queue, round(count(*) * 100.0 / (SELECT pct FROM sample))::bigint AS succeeded
        FROM pgqueue.jobs TABLESAMPLE SYSTEM ((SELECT pct FROM sample))
        WHERE state = 'succeeded'
        GROUP BY queue
    ), names AS (
        SELECT queue FROM queued UNION SELECT queue FROM running
        UNION SELECT queue FROM waiting UNION SELECT queue FROM failed
        UNION SELECT queue FROM succeeded UNION SELECT name FROM pgqueue.queues
    )
    SELECT n.queue,
           coalesce(qd.queued, 0)    AS queued,
           coalesce(qd.scheduled, 0) AS scheduled,
           coalesce(w.waiting, 0)    AS waiting,
           coalesce(r.running, 0)    AS running,
           coalesce(s.succeeded, 0)  AS succeeded,
           coalesce(f.dead, 0)       AS dead,
           coalesce(f.cancelled, 0)  AS cancelled,
           now() - qd.oldest_run_at  AS oldest_queued_age,
           coalesce(q.paused, false) AS paused,
           q.concurrency_limit,
           q.rate_limit,
           q.rate_period_s,
           (SELECT pct < 100 FROM sample) AS succeeded_estimated
    FROM names n
    LEFT JOIN queued qd   ON qd.queue = n.queue
    LEFT JOIN running r   ON r.queue = n.queue
    LEFT JOIN waiting w   ON w.queue = n.queue
    LEFT JOIN failed f    ON f.queue = n.queue
    LEFT JOIN succeeded s ON s.queue = n.queue
    LEFT JOIN pgqueue.queues q ON q.name = n.queue
    """

UPGRADE = [
    # Cancellation of a running job: the operator sets this, the worker that holds the
    # job sees it (NOTIFY plus its next lease renewal) and ends the job `cancelled`.
    "ALTER TABLE pgqueue.jobs ADD COLUMN IF NOT EXISTS cancel_requested_at timestamptz",
    # Serial-per-key: jobs sharing a key run one at a time, in enqueue (id) order.
    "ALTER TABLE pgqueue.jobs ADD COLUMN IF NOT EXISTS serial_key text",
    "DROP VIEW IF EXISTS pgqueue.queue_stats",
    QUEUE_STATS,
    """
    CREATE OR REPLACE VIEW pgqueue.running_jobs AS
    SELECT j.id, j.queue, j.task, j.attempt, j.max_attempts, j.priority,
           j.worker_id, w.hostname, w.pid,
           j.started_at, now() - j.started_at AS runtime,
           j.lease_expires_at, j.lease_expires_at < now() AS lease_expired,
           j.cancel_requested_at
    FROM pgqueue.jobs j
    LEFT JOIN pgqueue.workers w ON w.id = j.worker_id
    WHERE j.state = 'running'
    """,
    """
    CREATE OR REPLACE VIEW pgqueue.dead_jobs AS
    SELECT id, queue, task, args, kwargs, attempt, max_attempts, created_at, finished_at,
           last_error, jsonb_array_length(errors) AS error_count, tags
    FROM pgqueue.jobs
    WHERE state = 'dead'
    """,
    # A worker is stale once its registration expired without a heartbeat renewing it;
    # its running jobs are the rescuer's to hand back.
    """
    CREATE OR REPLACE VIEW pgqueue.workers_status AS
    SELECT w.id, w.hostname, w.pid, w.queues, w.concurrency, w.version,
           w.started_at, w.heartbeat_at, now() - w.heartbeat_at AS heartbeat_age,
           w.expires_at,
           CASE WHEN w.expires_at < now() THEN 'stale'
                WHEN w.stopping THEN 'stopping'
                ELSE 'alive' END AS status,
           coalesce(r.running, 0) AS running
    FROM pgqueue.workers w
    LEFT JOIN (SELECT worker_id, count(*) AS running FROM pgqueue.jobs
               WHERE state = 'running' GROUP BY worker_id) r ON r.worker_id = w.id
    """,
]

# Built CONCURRENTLY (no write lock on the jobs table); a failed build leaves an
# INVALID index, so each is dropped first and the revision can be re-run.
INDEXES = [
    # Pruning and the dead letter: terminal rows by state, oldest first. One extra index
    # entry per finished job (see docs/operations.md for the measured drain cost).
    (
        "jobs_finished_idx",
        "CREATE INDEX CONCURRENTLY jobs_finished_idx ON pgqueue.jobs (state, finished_at) "
        "WHERE finished_at IS NOT NULL",
    ),
    # queue_stats counts waiting rows without a table scan; jobs that never wait never
    # enter this index, so it costs the hot path nothing.
    (
        "jobs_waiting_idx",
        "CREATE INDEX CONCURRENTLY jobs_waiting_idx ON pgqueue.jobs (queue) "
        "WHERE state = 'waiting'",
    ),
    # Serial-per-key: the live jobs of a key in id order; rows without a key stay out.
    (
        "jobs_serial_idx",
        "CREATE INDEX CONCURRENTLY jobs_serial_idx ON pgqueue.jobs (serial_key, id) "
        "WHERE serial_key IS NOT NULL AND state IN ('waiting', 'queued', 'running')",
    ),
]

DOWNGRADE = [
    "DROP VIEW IF EXISTS pgqueue.workers_status",
    "DROP VIEW IF EXISTS pgqueue.dead_jobs",
    "DROP VIEW IF EXISTS pgqueue.running_jobs",
    "DROP VIEW IF EXISTS pgqueue.queue_stats",
    QUEUE_STATS_0001,
    "DROP INDEX IF EXISTS pgqueue.jobs_serial_idx",
    "DROP INDEX IF EXISTS pgqueue.jobs_waiting_idx",
    "DROP INDEX IF EXISTS pgqueue.jobs_finished_idx",
    "ALTER TABLE pgqueue.jobs DROP COLUMN IF EXISTS serial_key",
    "ALTER TABLE pgqueue.jobs DROP COLUMN IF EXISTS cancel_requested_at",
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
