"""SQLAlchemy description of pgqueue's tables (schema ``pgqueue``).

Use it to reference jobs from your own models or queries, e.g.
``select(jobs.c.id).where(jobs.c.state == "dead")``. Alembic owns the schema:
this metadata mirrors the migrations and a test proves they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from ._settings import SCHEMA

metadata = MetaData(schema=SCHEMA)

TIMESTAMPTZ = DateTime(timezone=True)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("queue", Text, nullable=False, server_default=text("'default'")),
    Column("task", Text, nullable=False),
    Column("args", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("kwargs", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("priority", SmallInteger, nullable=False, server_default=text("0")),
    Column("state", Text, nullable=False, server_default=text("'queued'")),
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False, server_default=text("5")),
    Column("run_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("started_at", TIMESTAMPTZ),
    Column("finished_at", TIMESTAMPTZ),
    Column("worker_id", UUID(as_uuid=True)),
    Column("lease_expires_at", TIMESTAMPTZ),
    Column("result", JSONB),
    Column("last_error", Text),
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("unique_key", Text),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("cancel_requested_at", TIMESTAMPTZ),
    Column("serial_key", Text),
    Column("has_dependents", Boolean, nullable=False, server_default=text("false")),
    Column("pending_dependencies", Integer, nullable=False, server_default=text("0")),
    Column("on_dependency_failure", Text, nullable=False, server_default=text("'cancel'")),
    Column("dependency_args", Text),
    Column("progress", JSONB),
    Column("trace", JSONB),
    Column("expires_at", TIMESTAMPTZ),
    Index(
        "jobs_claim_idx",
        "queue",
        text("priority DESC"),
        "run_at",
        "id",
        postgresql_where=text("state = 'queued'"),
    ),
    Index("jobs_lease_idx", "lease_expires_at", postgresql_where=text("state = 'running'")),
    Index(
        "jobs_unique_key_idx",
        "unique_key",
        unique=True,
        postgresql_where=text(
            "unique_key IS NOT NULL AND state IN ('waiting', 'queued', 'running')"
        ),
    ),
    Index(
        "jobs_finished_idx",
        "state",
        "finished_at",
        postgresql_where=text("finished_at IS NOT NULL"),
    ),
    Index("jobs_waiting_idx", "queue", postgresql_where=text("state = 'waiting'")),
    Index(
        "jobs_serial_idx",
        "serial_key",
        "id",
        postgresql_where=text(
            "serial_key IS NOT NULL AND state IN ('waiting', 'queued', 'running')"
        ),
    ),
    Index(
        "jobs_serial_running_idx",
        "serial_key",
        unique=True,
        postgresql_where=text("serial_key IS NOT NULL AND state = 'running'"),
    ),
)

# The dashboard's search: argument tokens (migration 0012, pgqueue.search_tokens) and
# error text (migration 0011; only where pg_trgm exists).
Index(
    "jobs_args_tokens_idx",
    func.pgqueue.search_tokens(jobs.c.args.op("||")(jobs.c.kwargs)).label("tokens"),
    postgresql_using="gin",
    postgresql_where=text("finished_at IS NOT NULL AND (args <> '[]'::jsonb OR kwargs <> '{}'::jsonb)"),
)
Index(
    "jobs_error_search_idx",
    jobs.c.last_error,
    postgresql_using="gin",
    postgresql_ops={"last_error": "gin_trgm_ops"},
    postgresql_where=text("last_error IS NOT NULL"),
)

queues = Table(
    "queues",
    metadata,
    Column("name", Text, primary_key=True),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column("concurrency_limit", Integer),
    Column("rate_limit", Integer),
    Column("rate_period_s", Double),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
)

queue_starts = Table(
    "queue_starts",
    metadata,
    Column("queue", Text, nullable=False),
    Column("started_at", TIMESTAMPTZ, nullable=False),
    Column("n", Integer, nullable=False),
    CheckConstraint("n >= 1", name="queue_starts_n_positive"),
    Index("queue_starts_idx", "queue", "started_at"),
)
"""Rate-limit log: starts of rate-limited queues over the last period (migration 0004)."""

task_limits = Table(
    "task_limits",
    metadata,
    Column("task", Text, primary_key=True),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
)
"""One row per rate-limited task: the claims of its jobs lock it, so they take turns
across every worker (migration 0010). The limit itself is the task's ``rate_limit``."""

task_starts = Table(
    "task_starts",
    metadata,
    Column("task", Text, nullable=False),
    Column("started_at", TIMESTAMPTZ, nullable=False),
    Column("n", Integer, nullable=False),
    CheckConstraint("n >= 1", name="task_starts_n_positive"),
    Index("task_starts_idx", "task", "started_at"),
)
"""Rate-limit log: starts of rate-limited tasks over their last period (migration 0010)."""

workers = Table(
    "workers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("hostname", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("queues", ARRAY(Text), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("version", Text, nullable=False),
    Column("started_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("heartbeat_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("expires_at", TIMESTAMPTZ, nullable=False),
    Column("stopping", Boolean, nullable=False, server_default=text("false")),
    Column("meta", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
)

schedules = Table(
    "schedules",
    metadata,
    Column("name", Text, primary_key=True),
    Column("task", Text, nullable=False),
    Column("queue", Text, nullable=False, server_default=text("'default'")),
    Column("cron", Text),
    Column("interval_s", Double),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    Column("misfire", Text, nullable=False, server_default=text("'skip'")),
    Column("args", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("kwargs", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("priority", SmallInteger, nullable=False, server_default=text("0")),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("next_fire_at", TIMESTAMPTZ),
    Column("last_fire_at", TIMESTAMPTZ),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
)

job_dependencies = Table(
    "job_dependencies",
    metadata,
    Column("job_id", BigInteger, ForeignKey("pgqueue.jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on", BigInteger, primary_key=True),
    Column("position", Integer, nullable=False, server_default=text("0")),
    Index("job_dependencies_job_idx", "job_id", "position"),
)

schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column(
        "schedule", Text, ForeignKey("pgqueue.schedules.name", ondelete="CASCADE"), primary_key=True
    ),
    Column("fire_at", TIMESTAMPTZ, primary_key=True),
    Column("job_id", BigInteger),
    Column("fired_at", TIMESTAMPTZ, nullable=False, server_default=text("now()")),
    Column("fired_by", UUID(as_uuid=True)),
)

job_history = Table(
    "job_history",
    metadata,
    Column("width_s", Integer, primary_key=True),
    Column("bucket", TIMESTAMPTZ, primary_key=True),
    Column("queue", Text, primary_key=True),
    Column("task", Text, primary_key=True),
    Column("succeeded", Integer, nullable=False, server_default=text("0")),
    Column("dead", Integer, nullable=False, server_default=text("0")),
    Column("cancelled", Integer, nullable=False, server_default=text("0")),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("run_s_sum", Double, nullable=False, server_default=text("0")),
    Column("wait_s_sum", Double, nullable=False, server_default=text("0")),
    Column("run_hist", ARRAY(Integer), nullable=False),
    Column("wait_hist", ARRAY(Integer), nullable=False),
    CheckConstraint("width_s IN (60, 3600)", name="job_history_width"),
)
"""Finished jobs per minute and hour, queue and task, with run/wait histograms (migration 0008)."""

queue_history = Table(
    "queue_history",
    metadata,
    Column("bucket", TIMESTAMPTZ, primary_key=True),
    Column("queue", Text, primary_key=True),
    Column("queued", Integer, nullable=False),
    Column("scheduled", Integer, nullable=False),
    Column("running", Integer, nullable=False),
    Column("waiting", Integer, nullable=False),
    Column("dead", Integer, nullable=False),
)
"""One queue-depth sample per minute and queue (migration 0008)."""

history_watermark = Table(
    "history_watermark",
    metadata,
    Column("id", Boolean, primary_key=True, server_default=text("true")),
    Column("rolled_until", TIMESTAMPTZ, nullable=False),
    CheckConstraint("id", name="history_watermark_single"),
)
"""Up to where finished jobs are rolled up into job_history (one row, migration 0008)."""

__all__ = [
    "history_watermark",
    "job_dependencies",
    "job_history",
    "jobs",
    "metadata",
    "queue_history",
    "queue_starts",
    "queues",
    "schedule_ticks",
    "schedules",
    "task_limits",
    "task_starts",
    "workers",
]
