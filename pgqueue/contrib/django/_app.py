"""The project's App and its DSN, from Django's settings."""

from __future__ import annotations

import importlib
import threading
from typing import Any

import psycopg

import pgqueue
from pgqueue.errors import ConfigurationError

DEFAULT_ALIAS = "default"
# OPTIONS keys of Django's PostgreSQL backend that are not libpq parameters.
_DJANGO_ONLY_OPTIONS = frozenset(
    {"isolation_level", "server_side_binding", "assume_role", "pool", "cursor_factory"}
)

_lock = threading.Lock()
_app: pgqueue.App | None = None


def dsn_from_settings(alias: str | None = None) -> str:
    """A libpq connection string for ``DATABASES[alias]`` (default: ``PGQUEUE_DATABASE``,
    else ``"default"``). Raises ConfigurationError for a missing alias or a database that
    is not PostgreSQL."""
    from django.conf import settings

    alias = alias or getattr(settings, "PGQUEUE_DATABASE", DEFAULT_ALIAS)
    try:
        db: dict[str, Any] = settings.DATABASES[alias]
    except KeyError:
        raise ConfigurationError(f"DATABASES has no {alias!r} entry (PGQUEUE_DATABASE)") from None
    engine = db.get("ENGINE", "")
    if not engine.startswith("django.db.backends.postgresql"):
        raise ConfigurationError(
            f"DATABASES[{alias!r}] uses {engine or 'no ENGINE'}; pgqueue needs PostgreSQL"
        )
    params: dict[str, Any] = {
        k: v for k, v in db.get("OPTIONS", {}).items() if k not in _DJANGO_ONLY_OPTIONS
    }
    for libpq, django_key in (("dbname", "NAME"), ("user", "USER"), ("password", "PASSWORD"),
                              ("host", "HOST"), ("port", "PORT")):
        if db.get(django_key):
            params[libpq] = str(db[django_key])
    return psycopg.conninfo.make_conninfo(**params)


def get_app() -> pgqueue.App:
    """The project's pgqueue App (one per process), made on first call.

    ``settings.PGQUEUE_APP = "module:attribute"`` names your own App; otherwise one is
    made with :func:`dsn_from_settings` and the ``PGQUEUE_SETTINGS`` dict as its
    settings overrides. Call it after Django is set up (in ``tasks`` modules, views).
    """
    global _app
    with _lock:
        if _app is None:
            _app = _load()
        return _app


def _load() -> pgqueue.App:
    from django.conf import settings

    spec = getattr(settings, "PGQUEUE_APP", None)
    if spec:
        module, _, attr = spec.partition(":")
        found = getattr(importlib.import_module(module), attr or "app")
        if not isinstance(found, pgqueue.App):
            raise ConfigurationError(f"PGQUEUE_APP {spec!r} is not a pgqueue.App")
        return found
    return pgqueue.App(dsn=dsn_from_settings(), **getattr(settings, "PGQUEUE_SETTINGS", {}))
