"""Smoke suite for pgqueue as a user installs it: ``pip install <wheel>``, no extras.

Runs with nothing but pgqueue and its own dependencies (no pytest, no greenlet, no
psycopg-binary unless the interpreter has it), so it can run in a clean virtualenv:

    PGQUEUE_TEST_DSN=postgresql://postgres@127.0.0.1:5432/postgres python tests/integrations/smoke.py

It makes its own uniquely named database and drops it, and checks: ``pgqueue migrate``,
enqueue through psycopg sync and async connections and a SQLAlchemy sync Session and
Connection (committed and rolled back), a worker run with a stored result, and the CLI's
read commands. ``tests/integrations/test_smoke.py`` runs it in the dev venv too;
``make smoke-install`` runs it from a wheel in a fresh venv (CI does).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import pgqueue

app = pgqueue.App()  # PGQUEUE_DSN, set by main() to a scratch database before first use


@app.task(queue="smoke", name="smoke.add")
def add(a: int, b: int) -> int:
    return a + b


def _pgqueue_cli() -> list[str]:
    """The installed console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("pgqueue")
    if script.exists():
        return [str(script)]
    found = shutil.which("pgqueue")
    assert found, "the pgqueue console script is not installed"
    return [found]


def cli(dsn: str, *args: str) -> str:
    result = subprocess.run(
        [*_pgqueue_cli(), "--dsn", dsn, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"pgqueue {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@contextmanager
def scratch_database(admin: str) -> Iterator[str]:
    name = f"pgqueue_smoke_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def count(dsn: str, task: str = "smoke.add") -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pgqueue.jobs WHERE task = %s", [task]).fetchone()
    assert row is not None
    return int(row[0])


def enqueue_psycopg(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        add.configure(conn=conn).enqueue(1, 1)
    with psycopg.connect(dsn) as conn:
        add.configure(conn=conn).enqueue(100, 100)
        conn.rollback()


async def enqueue_psycopg_async(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await add.configure(conn=conn).enqueue_async(2, 2)
    job = await add.enqueue_async(3, 3)  # pgqueue's own async pool
    assert job.id > 0
    await app.aclose()


def enqueue_sqlalchemy(dsn: str) -> None:
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    try:
        with Session(engine) as session:
            session.execute(text("SELECT 1"))
            add.configure(conn=session).enqueue(4, 4)
            session.commit()
        with Session(engine) as session:
            add.configure(conn=session).enqueue(200, 200)
            session.rollback()
        with engine.connect() as connection:
            add.configure(conn=connection).enqueue(5, 5)
            connection.commit()
        with engine.connect() as connection:
            add.configure(conn=connection).enqueue(300, 300)
            connection.rollback()
    finally:
        engine.dispose()
    # The sync path must never need greenlet (SQLAlchemy >= 2.1 does not install it).
    assert "sqlalchemy.ext.asyncio" not in sys.modules, "the sync SQLAlchemy path imported asyncio"


def main() -> None:
    admin = os.environ.get("PGQUEUE_TEST_DSN")
    if not admin:
        sys.exit("set PGQUEUE_TEST_DSN to a server where this user may create databases")
    if os.environ.get("PGQUEUE_SMOKE_INSTALLED") == "1":  # make smoke-install: the wheel, bare
        assert "site-packages" in (pgqueue.__file__ or ""), f"pgqueue imported from {pgqueue.__file__}"
        for module in ("greenlet", "psycopg_binary"):
            assert importlib.util.find_spec(module) is None, f"{module} is installed without an extra"
    with scratch_database(admin) as dsn:
        os.environ["PGQUEUE_DSN"] = dsn  # the App resolves its DSN on first use
        cli(dsn, "migrate")
        cli(dsn, "migrate")  # idempotent

        plain = add.enqueue(10, 20)
        enqueue_psycopg(dsn)
        asyncio.run(enqueue_psycopg_async(dsn))
        enqueue_sqlalchemy(dsn)
        assert count(dsn) == 6, f"expected 6 committed jobs, found {count(dsn)}"

        pgqueue.Worker(app, queues=["smoke"], stop_when_idle=True).run()
        assert plain.result(timeout=30) == 30
        with psycopg.connect(dsn) as conn:
            states = conn.execute("SELECT DISTINCT state FROM pgqueue.jobs").fetchall()
        assert states == [("succeeded",)], states

        listed = json.loads(cli(dsn, "jobs", "ls", "--json"))
        assert len(listed) == 6, listed
        cli(dsn, "jobs", "show", str(plain.id))
        json.loads(cli(dsn, "stats", "--json"))
        cli(dsn, "queues", "ls")
        cli(dsn, "workers", "ls")
        cli(dsn, "health")
        app.close()
    print("pgqueue smoke: ok", pgqueue.__version__, "psycopg", psycopg.__version__, psycopg.pq.__impl__)


if __name__ == "__main__":
    main()
