"""Fixtures for the dashboard tests: seeded rows and an in-process client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

import pgqueue

if TYPE_CHECKING:
    from starlette.testclient import TestClient

TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
TRACEBACK = 'Traceback (most recent call last):\n  File "reports.py", line 9, in build\nValueError: boom\n'


def seed_dead(conn: psycopg.Connection[Any], queue: str = "reports", task: str = "app.build_report") -> int:
    """A dead job with one recorded error, as a worker leaves it."""
    error = {"attempt": 3, "type": "ValueError", "message": "boom", "traceback": TRACEBACK}
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, state, attempt, max_attempts, started_at, "
        "finished_at, last_error, errors) VALUES (%s, %s, '[2]', 'dead', 3, 3, now(), now(), "
        "'ValueError: boom', jsonb_build_array(%s::jsonb || jsonb_build_object('at', now()))) RETURNING id",
        (queue, task, json.dumps(error)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def seed_queued(conn: psycopg.Connection[Any], queue: str, n: int, task: str = "app.send_email",
                tags: list[str] | None = None) -> list[int]:
    rows = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, args, tags) "
        "SELECT %s, %s, jsonb_build_array(g), %s FROM generate_series(1, %s) g RETURNING id",
        (queue, task, tags or [], n),
    ).fetchall()
    return [int(r[0]) for r in rows]


def token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _client(app: pgqueue.App, **options: Any) -> TestClient:
    pytest.importorskip("starlette", reason="the dashboard extra is not installed")
    from starlette.testclient import TestClient

    from pgqueue.dashboard import create_app

    web = create_app(app, **{"history_s": 0.0, **options})  # tests tick history themselves
    web.state.dashboard.overview.cache_s = 0.0  # every request reads the database
    return TestClient(web, follow_redirects=False)


@pytest.fixture
def client(app: pgqueue.App) -> Iterator[TestClient]:
    with _client(app) as c:
        yield c


@pytest.fixture
def read_only_client(app: pgqueue.App) -> Iterator[TestClient]:
    with _client(app, read_only=True) as c:
        yield c


@pytest.fixture
def auth_client(app: pgqueue.App) -> Iterator[TestClient]:
    from pgqueue.dashboard import basic_auth

    with _client(app, auth=basic_auth("admin", "s3cret")) as c:
        yield c
