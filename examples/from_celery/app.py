"""The app object: the one file that is not the Celery application's.

The Celery version of this file (for comparison)::

    from celery import Celery

    app = Celery("shop", broker="redis://localhost:6379/0", backend="redis://localhost:6379/1")
    app.conf.update(
        task_max_retries=2,
        task_default_retry_delay=0.2,
        task_time_limit=30,
        result_expires=3600,
        task_routes={"shop.reports.*": {"queue": "low"}, "shop.emails.*": {"queue": "emails"}},
    )
"""

from __future__ import annotations

import pgqueue

app = pgqueue.App(                      # the database: PGQUEUE_DSN (or App(dsn=...))
    default_max_attempts=3,             # task_max_retries=2: attempts count the first run
    default_backoff_base=0.2,           # task_default_retry_delay (then doubling per attempt)
    default_backoff_jitter=0,
    default_timeout=30,                 # task_time_limit
    retention_succeeded_s=3600,         # result_expires
    routes={"shop.reports.*": {"queue": "low"}, "shop.emails.*": "emails"},   # task_routes
)
