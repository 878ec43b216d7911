"""Checks one extra of pgqueue installed alone: ``python extras.py EXTRA``.

``make smoke-install`` installs the wheel with each extra into its own fresh venv and runs
this; every check uses only what that extra brings (no database needed), and fails if the
extra is missing a dependency or pulls in one it should not.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

import pgqueue


def _absent(module: str) -> None:
    assert importlib.util.find_spec(module) is None, f"{module} should not be installed by this extra"


def binary() -> None:
    import psycopg

    assert psycopg.pq.__impl__ == "binary", psycopg.pq.__impl__


def embedded() -> None:
    from pgqueue import _embedded

    assert _embedded.available()


def dashboard() -> None:
    from pgqueue.dashboard.app import create_app

    create_app(pgqueue.App(dsn="postgresql://localhost/unused"))


def metrics() -> None:
    app = pgqueue.App(dsn="postgresql://localhost/unused")
    assert app.metrics.registry is not None


def otel() -> None:
    from pgqueue import _tracing

    assert _tracing._trace(), "opentelemetry-api is not importable"
    _absent("opentelemetry.sdk")  # the API only; the application brings the SDK


def django() -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["pgqueue.contrib.django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop", "HOST": "db"}},
    )
    django.setup()
    from pgqueue.contrib.django import dsn_from_settings

    assert dsn_from_settings() == "dbname=shop host=db", dsn_from_settings()


CHECKS: dict[str, Callable[[], None]] = {
    "binary": binary,
    "embedded": embedded,
    "dashboard": dashboard,
    "metrics": metrics,
    "otel": otel,
    "django": django,
}


def main() -> None:
    extra = sys.argv[1]
    CHECKS[extra]()
    _absent("greenlet")  # no extra needs sqlalchemy[asyncio]
    print(f"pgqueue[{extra}] alone: ok")


if __name__ == "__main__":
    main()
