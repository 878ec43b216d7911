"""Settings of the example shop: just enough Django for orders and pgqueue.

The database comes from ``DATABASE_URL`` (a URL or a libpq string), the way a twelve-factor
deployment passes it; pgqueue takes its DSN from ``DATABASES`` (pgqueue.contrib.django).
"""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict

_db = conninfo_to_dict(os.environ.get("DATABASE_URL", "postgresql://localhost/shop"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS: list[str] = []
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "pgqueue.contrib.django",  # conn=connection, tasks.py discovery, manage.py pgqueue_*
    "orders",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.get("dbname", ""),
        "USER": _db.get("user", ""),
        "PASSWORD": _db.get("password", ""),
        "HOST": _db.get("host", ""),
        "PORT": _db.get("port", ""),
    }
}

# Optional: overrides of pgqueue.Settings for the project's App.
PGQUEUE_SETTINGS = {"default_max_attempts": 3}
