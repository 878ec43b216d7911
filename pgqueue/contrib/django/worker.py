"""What ``manage.py pgqueue_work`` serves (``--app pgqueue.contrib.django.worker:app``).

Importing it sets Django up (``DJANGO_SETTINGS_MODULE``, which manage.py sets and worker
processes inherit), which imports every app's ``tasks`` module, and wraps each attempt so
it starts and ends with Django's stale connections closed, as a request would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import django

from pgqueue.context import Context

django.setup()  # idempotent; registers the tasks (PgqueueConfig.ready)

from django.db import close_old_connections  # noqa: E402  (needs the apps loaded)

from ._app import get_app  # noqa: E402

app = get_app()


@contextmanager
def _django_connections(ctx: Context) -> Iterator[None]:
    # Worker threads are not requests: without this a task's thread would keep a
    # connection past CONN_MAX_AGE, or reuse one broken by a database restart.
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


app.middleware(_django_connections)
