"""Celery's option names and what pgqueue calls them: the one home of that mapping.

An unknown App setting, task option or enqueue option is refused with an error that lists
the valid names and, when the name is Celery's, says what to use instead.
docs/coming-from-celery.md states the same mapping (a test checks it names every entry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

APP_SETTINGS: Final[Mapping[str, str]] = {
    "broker_url": "App(dsn=...) (or PGQUEUE_DSN): the database is the broker",
    "result_backend": "nothing: results are stored in the job row (store_result)",
    "task_default_queue": "default_queue",
    "task_default_priority": "default_priority (higher runs first)",
    "task_default_retry_delay": "default_backoff_base (seconds before the 2nd attempt; "
    "the back-off doubles each attempt up to default_backoff_max)",
    "task_max_retries": "default_max_attempts (= max_retries + 1)",
    "task_time_limit": "default_timeout (seconds per attempt)",
    "task_soft_time_limit": "default_timeout (seconds per attempt)",
    "task_ignore_result": "default_store_result=False",
    "task_store_errors_even_if_ignored": "nothing: errors are always kept in jobs.errors",
    "result_expires": "retention_succeeded_s (finished jobs and their results are kept "
    "that long)",
    "task_routes": "App(routes={pattern: queue or {'queue': ..., 'priority': ...}})",
    "task_acks_late": "nothing: a job whose worker dies always runs again (lease)",
    "task_reject_on_worker_lost": "nothing: a job whose worker dies always runs again",
    "task_serializer": "nothing: arguments and results are JSON",
    "result_serializer": "nothing: arguments and results are JSON",
    "accept_content": "nothing: arguments and results are JSON",
    "task_default_rate_limit": (
        "@app.task(rate_limit='10/m') per task, or app.queues.set_limits(queue, rate='10/m')"
    ),
    "worker_concurrency": "pgqueue work --concurrency",
    "worker_prefetch_multiplier": "nothing: a worker claims only its free slots",
    "beat_schedule": "@app.periodic(cron=...) or app.add_schedule(...)",
    "timezone": "the timezone= of each periodic schedule",
    "enable_utc": "nothing: times are timestamptz",
}
"""Celery configuration names -> the pgqueue App setting (or why none is needed)."""

TASK_OPTIONS: Final[Mapping[str, str]] = {
    "max_retries": "max_attempts (= max_retries + 1)",
    "default_retry_delay": "backoff_base (seconds before the 2nd attempt, then doubling)",
    "autoretry_for": "retry_on (every exception retries by default)",
    "retry_backoff": "backoff_base",
    "retry_backoff_max": "backoff_max",
    "retry_jitter": "backoff_jitter (a fraction, 0 for none)",
    "time_limit": "timeout",
    "soft_time_limit": "timeout",
    "ignore_result": "store_result=False",
    "acks_late": "nothing: a job whose worker dies always runs again (lease)",
    "serializer": "nothing: arguments and results are JSON",
    "expires": "expires= per call (apply_async / configure)",
    "base": "app.middleware or lifecycle hooks (app.on)",
    "routing_key": "queue",
    "exchange": "queue",
    "track_started": "nothing: the running state is always recorded",
}
"""Celery ``@app.task(...)`` options -> the pgqueue task option."""

CALL_OPTIONS: Final[Mapping[str, str]] = {
    "countdown": "delay (configure) or countdown (apply_async)",
    "eta": "run_at (configure) or eta (apply_async)",
    "link": "apply_async(link=...) or sig.link(...)",
    "link_error": "apply_async(link_error=...) or sig.link_error(...)",
    "time_limit": "the task's timeout",
    "soft_time_limit": "the task's timeout",
    "retry": "nothing: an enqueue is one INSERT; it fails or commits",
    "retry_policy": "nothing: an enqueue is one INSERT; it fails or commits",
    "routing_key": "queue",
    "exchange": "queue",
    "serializer": "nothing: arguments and results are JSON",
    "task_id": "unique_key (the id is the database's)",
    "shadow": "nothing",
}
"""Celery ``apply_async`` options -> the pgqueue enqueue option."""

_BY_KIND: Final[Mapping[str, Mapping[str, str]]] = {
    "App setting": APP_SETTINGS,
    "task option": TASK_OPTIONS,
    "enqueue option": CALL_OPTIONS,
}


def unknown_names(kind: str, unknown: Iterable[str], valid: Iterable[str]) -> str:
    """The one-sentence error for ``unknown`` names of ``kind`` (a key of ``_BY_KIND``)."""
    celery = _BY_KIND.get(kind, {})
    names = sorted(unknown)
    hints = [f"{name} is Celery's; use {celery[name]}" for name in names if name in celery]
    message = (
        f"unknown {kind}{'s' if len(names) > 1 else ''} {', '.join(names)}"
        f"{' (' + '; '.join(hints) + ')' if hints else ''}; valid: {', '.join(sorted(valid))}"
    )
    return message
