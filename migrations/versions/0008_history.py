"""History kept by the database: finished jobs per minute and hour, queue depth per minute.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

``job_history`` holds, per bucket (``width_s`` 60 or 3600), queue and task: the jobs that
finished succeeded, dead and cancelled, the failed attempts they carried, the sums of run
and wait time, and two histograms (run time, wait time; one count per slot of
``pgqueue.dashboard.history.BOUNDS_S``) from which p50/p95/p99 of any range are read.
``queue_history`` holds one depth sample per minute and queue. ``history_watermark`` is
the single row saying up to where finished jobs have been rolled up.

Written by ``pgqueue.dashboard.history.tick`` (the dashboard, and the process serving
``/metrics``, under one advisory lock); bounded by its pruning: minutes for 26 hours,
hours for 15 days, depth samples for 26 hours.

Safe beside live workers: new, empty tables; nothing touches pgqueue.jobs.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE IF NOT EXISTS pgqueue.job_history (
        width_s         integer          NOT NULL,
        bucket          timestamptz      NOT NULL,
        queue           text             NOT NULL,
        task            text             NOT NULL,
        succeeded       integer          NOT NULL DEFAULT 0,
        dead            integer          NOT NULL DEFAULT 0,
        cancelled       integer          NOT NULL DEFAULT 0,
        failed_attempts integer          NOT NULL DEFAULT 0,
        run_s_sum       double precision NOT NULL DEFAULT 0,
        wait_s_sum      double precision NOT NULL DEFAULT 0,
        run_hist        integer[]        NOT NULL,
        wait_hist       integer[]        NOT NULL,
        CONSTRAINT job_history_pkey PRIMARY KEY (width_s, bucket, queue, task),
        CONSTRAINT job_history_width CHECK (width_s IN (60, 3600))
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS pgqueue.queue_history (
        bucket    timestamptz NOT NULL,
        queue     text        NOT NULL,
        queued    integer     NOT NULL,
        scheduled integer     NOT NULL,
        running   integer     NOT NULL,
        waiting   integer     NOT NULL,
        dead      integer     NOT NULL,
        CONSTRAINT queue_history_pkey PRIMARY KEY (bucket, queue)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS pgqueue.history_watermark (
        id           boolean     NOT NULL DEFAULT true,
        rolled_until timestamptz NOT NULL,
        CONSTRAINT history_watermark_pkey PRIMARY KEY (id),
        CONSTRAINT history_watermark_single CHECK (id)
    )
    """,
]

DOWNGRADE = [
    "DROP TABLE IF EXISTS pgqueue.history_watermark",
    "DROP TABLE IF EXISTS pgqueue.queue_history",
    "DROP TABLE IF EXISTS pgqueue.job_history",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
