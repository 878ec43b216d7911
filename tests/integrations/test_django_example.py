"""The Django example (examples/django_shop) end to end on a real database, through
manage.py as a user runs it: Django's migrate, ``pgqueue_migrate``, an order placed in
``transaction.atomic()`` with its job on ``conn=connection`` (one committed, one rolled
back), ``manage.py pgqueue jobs ls``, and ``pgqueue_work`` running the task, which uses
the ORM. Skipped when Django is not installed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

pytest.importorskip("django", reason="Django is in the dev extra (pgqueue-jobs[django])")

SHOP = Path(__file__).resolve().parents[2] / "examples" / "django_shop"
DEADLINE_S = 60.0


def _env(dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "PGQUEUE_APP")}
    env.update(DATABASE_URL=dsn, DJANGO_SETTINGS_MODULE="shop.settings")
    return env


def manage(dsn: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SHOP, env=_env(dsn), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _orders(dsn: str) -> dict[str, bool]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT email, confirmed_at IS NOT NULL FROM orders_order").fetchall()
    return dict(rows)


def test_django_shop_end_to_end(empty_dsn: str) -> None:
    dsn = empty_dsn
    manage(dsn, "makemigrations", "--check", "--dry-run")  # the example's migration is complete
    manage(dsn, "migrate", "--no-input")
    manage(dsn, "pgqueue_migrate")
    assert "placed" in manage(dsn, "place_order", "ada@example.com")
    assert "rolled back" in manage(dsn, "place_order", "bob@example.com", "--fail")

    assert _orders(dsn) == {"ada@example.com": False}  # bob's order and job rolled back
    jobs = json.loads(manage(dsn, "pgqueue", "jobs", "ls", "--json"))
    assert [(j["task"], j["state"]) for j in jobs] == [("orders.send_confirmation", "queued")]

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "pgqueue_work", "-q", "orders", "--concurrency", "2"],
        cwd=SHOP, env=_env(dsn), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while _orders(dsn) != {"ada@example.com": True}:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker did not confirm the order in time"
            time.sleep(0.1)  # polling a condition with a deadline, not synchronising
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 0, output
    with psycopg.connect(dsn) as conn:
        state, result = conn.execute("SELECT state, result FROM pgqueue.jobs").fetchone() or (None, None)
    assert (state, result) == ("succeeded", "ada@example.com")


def test_dsn_and_connection_errors(empty_dsn: str) -> None:
    out = manage(
        empty_dsn, "shell", "-c",
        "from pgqueue.contrib.django import dsn_from_settings, psycopg_connection\n"
        "from django.db import connection\n"
        "import psycopg\n"
        "print(psycopg.conninfo.conninfo_to_dict(dsn_from_settings())['dbname'])\n"
        "print(type(psycopg_connection(connection)).__name__)\n",
    )
    dbname = psycopg.conninfo.conninfo_to_dict(empty_dsn)["dbname"]
    assert out.split()[-2:] == [dbname, "Connection"]  # (Django 5.2 shell first says what it imported)
