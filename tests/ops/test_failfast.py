"""The failure matrix: every command, and App calls from Python, against every way the
database can be wrong, end fast with one sentence and a documented exit code.

Cases that break a server use a cluster of this module's own (never the shared one):
it has a password-protected role and is turned into a standby in recovery.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue import _migrate
from pgqueue.errors import (
    AuthenticationFailed,
    DatabaseMissing,
    HostNotFound,
    PgQueueError,
    ReadOnlyDatabase,
    SchemaMissing,
    SchemaOutOfDate,
    ServerUnreachable,
)
from tests.conftest import with_dbname
from tests.deploy.infra import Cluster, free_port

HANG_S = 15.0
"""A hang guard, on top of the interpreter's own start-up (measured once): a command that
falls back to waiting for the connection pool takes 30 s (psycopg_pool's timeout) and
prints the error ten times. On an idle machine these failures take 1-2 s; the bound is
wide so that a loaded CI machine cannot fail a correct command (no timed asserts)."""


@pytest.fixture(scope="module")
def standby() -> Iterator[Cluster]:
    """A cluster in recovery (read-only) holding a migrated database ``pgq`` and a role
    ``pw_user`` that must give its password (scram-sha-256)."""
    base = Path(tempfile.mkdtemp(prefix="pgqueue-failfast-"))
    cluster = Cluster(base / "data")
    try:
        cluster.initdb()
        hba = cluster.datadir / "pg_hba.conf"
        hba.write_text("host all pw_user 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        cluster.start()
        with cluster.connect() as c:
            c.execute("CREATE ROLE pw_user LOGIN PASSWORD 'right-password'")
            c.execute("CREATE DATABASE pgq")
        _migrate.upgrade(cluster.dsn("pgq"))
        cluster.stop()
        signal = cluster.datadir / "standby.signal"
        signal.touch()
        shutil.chown(signal, "postgres", "postgres")
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def startup_s() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pgqueue.cli", "--version"], check=True, capture_output=True)
    return time.monotonic() - started


# case -> (how to make the DSN from (shared test dsn, standby cluster), exit code, sentence)
Case = tuple[Callable[[str, Cluster], str], int, str]
CASES: dict[str, Case] = {
    "server down": (
        lambda dsn, c: f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        3, "nothing accepts connections at 127.0.0.1:",
    ),
    "wrong port": (
        lambda dsn, c: f"postgresql://postgres@127.0.0.1:1/{psycopg.conninfo.conninfo_to_dict(dsn)['dbname']}",
        3, "nothing accepts connections at 127.0.0.1:1 (connection refused)",
    ),
    "unresolvable host": (
        lambda dsn, c: "postgresql://postgres@no-such-host.invalid:5432/postgres",
        3, "cannot resolve the database host 'no-such-host.invalid'",
    ),
    "database missing": (
        lambda dsn, c: with_dbname(dsn, "pgq_no_such_database"),
        3, "database 'pgq_no_such_database' does not exist on",
    ),
    "authentication refused": (
        lambda dsn, c: f"postgresql://pw_user:wrong-password@127.0.0.1:{c.port}/pgq",
        3, "refused user 'pw_user'",
    ),
    "read-only standby": (
        lambda dsn, c: c.dsn("pgq"), 3, "is a read-only standby (in recovery)",
    ),
    "schema missing": (
        lambda dsn, c: _at_revision(dsn, "base"), 4, "has no pgqueue schema; run `pgqueue migrate`",
    ),
    "schema older": (
        lambda dsn, c: _at_revision(dsn, "0001"), 4, "is at revision 0001, this pgqueue needs",
    ),
}  # fmt: skip

CORE = [
    ["jobs", "ls"],
    ["jobs", "enqueue", "t.x", "--args", "[1]"],
    ["queues", "purge", "q", "--yes"],
    ["stats"],
]
MORE = [
    ["jobs", "show", "1"],
    ["jobs", "retry", "1"],
    ["jobs", "cancel", "--queue", "q", "--yes"],
    ["jobs", "delete", "--state", "dead", "--yes"],
    ["queues", "ls"],
    ["queues", "pause", "q"],
    ["queues", "set", "q", "--concurrency", "2"],
    ["workers", "ls"],
    ["prune", "--dry-run"],
    ["schedules", "ls"],
    ["dashboard", "--port", "1"],
]
COMMANDS = [pytest.param(c, id=" ".join(c[:2])) for c in CORE] + [
    pytest.param(c, id=" ".join(c[:2]), marks=pytest.mark.slow) for c in MORE
]


def _at_revision(dsn: str, revision: str) -> str:
    _migrate.upgrade(dsn, revision)
    return dsn


def _run(dsn: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done, time.monotonic() - started


def _check(
    done: subprocess.CompletedProcess[str], elapsed: float, startup: float, code: int, sentence: str
) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr  # one sentence: no traceback, no repeated log lines
    assert lines[0].startswith("error: ") and sentence in lines[0], lines[0]
    assert "wrong-password" not in done.stdout + done.stderr
    assert elapsed < startup + HANG_S, f"took {elapsed:.1f}s"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_fails_fast_with_one_sentence(
    case: str, command: list[str], dsn: str, standby: Cluster, startup_s: float
) -> None:
    make, code, sentence = CASES[case]
    target = make(dsn, standby)
    done, elapsed = _run(target, *command)
    _check(done, elapsed, startup_s, code, sentence)


@pytest.mark.parametrize("case", sorted(c for c in CASES if not c.startswith("schema")))
def test_migrate_fails_fast_when_the_database_cannot_be_used(
    case: str, dsn: str, standby: Cluster, startup_s: float
) -> None:
    make, code, sentence = CASES[case]
    done, elapsed = _run(make(dsn, standby), "migrate")
    _check(done, elapsed, startup_s + 1.0, code, sentence)  # + Alembic's import


def test_debug_adds_the_traceback(startup_s: float) -> None:
    done, _ = _run(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", "--debug", "jobs", "ls")
    assert done.returncode == 3
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: nothing accepts connections")


def test_a_malformed_dsn_is_a_usage_error() -> None:
    done, _ = _run("not a url", "jobs", "ls")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: the DSN is not a PostgreSQL URL") and "Traceback" not in done.stderr


def test_a_newer_schema_warns_once_and_works(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("UPDATE pgqueue.alembic_version SET version_num = '9999_future'")
    done, _ = _run(dsn, "jobs", "ls", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert done.stderr.strip().splitlines() == [
        f"warning: the pgqueue schema (9999_future) is newer than this pgqueue ({_migrate.head()}); "
        "upgrade pgqueue"
    ]


PYTHON_ERRORS: dict[str, type[PgQueueError]] = {
    "server down": ServerUnreachable,
    "wrong port": ServerUnreachable,
    "unresolvable host": HostNotFound,
    "database missing": DatabaseMissing,
    "authentication refused": AuthenticationFailed,
    "read-only standby": ReadOnlyDatabase,
    "schema missing": SchemaMissing,
    "schema older": SchemaOutOfDate,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_calls_raise_the_same_sentence_fast(case: str, dsn: str, standby: Cluster) -> None:
    make, _, sentence = CASES[case]
    target = make(dsn, standby)
    for call in (
        lambda app: app.enqueue("t.x", [1]),
        lambda app: app.queues.list(),
        lambda app: app.job(1).refresh(),
    ):
        started = time.monotonic()
        with pgqueue.App(dsn=target) as app, pytest.raises(PgQueueError) as caught:
            call(app)
        assert time.monotonic() - started < HANG_S
        assert isinstance(caught.value, PYTHON_ERRORS[case]), repr(caught.value)
        assert sentence in str(caught.value)


def test_python_async_enqueue_fails_fast(dsn: str) -> None:
    import asyncio

    async def enqueue() -> Any:
        async with pgqueue.App(dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres") as app:
            return await app.enqueue_async("t.x", [1])

    started = time.monotonic()
    with pytest.raises(ServerUnreachable):
        asyncio.run(enqueue())
    assert time.monotonic() - started < HANG_S
