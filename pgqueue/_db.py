"""Connections and pools: the only module that opens database connections.

pgqueue's own work (fire-and-forget enqueue, the worker's claims and
completions) runs on a lazily created :class:`psycopg_pool.ConnectionPool`;
the worker's LISTEN connection is a direct one (never through a pooler).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import TupleRow, class_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from . import _revision
from .errors import (
    AuthenticationFailed,
    DatabaseMissing,
    DatabaseUnavailable,
    HostNotFound,
    InvalidDsn,
    PgQueueError,
    ReadOnlyDatabase,
    SchemaMissing,
    SchemaOutOfDate,
    ServerUnreachable,
)

APPLICATION_NAME = "pgqueue"
CONNECT_TIMEOUT_S = 10
FIRST_CONNECT_TIMEOUT_S = 3
"""The first connection of a pool (the probe) gives up after this long: a server that
never answered gets one sentence within seconds, not a pool retrying for 30 s."""
WHERE_DSN = "the DSN (--dsn or App(dsn=...), PGQUEUE_DSN, DATABASE_URL)"
MIGRATE_HINT = "run `pgqueue migrate` (safe beside running workers)"
PREPARE_THRESHOLD: int | None = None
"""psycopg's automatic server-side prepared statements stay off: behind a transaction
pooler (pgbouncer < 1.21, pool_mode=transaction) a statement prepared on one server
connection is executed on another and fails, and a generic plan chosen after five runs
can be far worse than the custom one (measured on the batched completion)."""
ON_REQUEST_ONLY = 2**31 - 1
"""prepare_threshold of a direct connection of pgqueue's own pool: no statement is
prepared automatically, one executed with ``prepare=True`` (the single enqueue) is."""


def prepare_if_direct(conn: psycopg.Connection[TupleRow]) -> None:
    """Pool hook: let ``execute(..., prepare=True)`` prepare on ``conn`` if it reaches the
    server directly. Behind a pooler the backend pid the server reports differs from the
    one in the connection's cancel key (the pooler's own), and nothing is ever prepared."""
    from ._sql import query

    row = conn.execute(query("backend_pid")).fetchone()
    conn.prepare_threshold = ON_REQUEST_ONLY if row and row[0] == conn.info.backend_pid else None


async def prepare_if_direct_async(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    """The async twin of :func:`prepare_if_direct`."""
    from ._sql import query

    row = await (await conn.execute(query("backend_pid"))).fetchone()
    conn.prepare_threshold = ON_REQUEST_ONLY if row and row[0] == conn.info.backend_pid else None


def connect_kwargs(application_name: str = APPLICATION_NAME) -> dict[str, Any]:
    return {
        "application_name": application_name,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "prepare_threshold": PREPARE_THRESHOLD,
    }


def connect(
    dsn: str, *, autocommit: bool = True, application_name: str = APPLICATION_NAME
) -> psycopg.Connection[TupleRow]:
    """A direct connection (autocommit by default)."""
    return psycopg.connect(dsn, autocommit=autocommit, **connect_kwargs(application_name))


def _where(dsn: str) -> tuple[str, str]:
    """(host:port, database) the DSN points at, for messages (never the password)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "?", "?"
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    return f"{host}:{info.get('port') or 5432}", str(info.get("dbname") or info.get("user") or "?")


_QUOTED = re.compile(r'"([^"]*)"')


def connect_error(dsn: str, exc: psycopg.Error) -> PgQueueError:
    """The one-sentence PgQueueError for a failed connection attempt to ``dsn``.

    Classified from libpq's message (a failed connection carries no SQLSTATE); an
    unrecognised reason still gets a sentence, with libpq's first line quoted.
    """
    from ._dsn import redact

    text = str(exc).strip()
    first = redact(text.splitlines()[0] if text else type(exc).__name__)
    where, dbname = _where(dsn)
    lowered = text.lower()
    if isinstance(exc, psycopg.ProgrammingError) and ("connection info" in lowered or "uri" in lowered):
        return InvalidDsn(
            f"the DSN is not a PostgreSQL URL or key=value string ({first}); "
            "use postgresql://user:password@host:5432/dbname"
        )
    if "failed to resolve host" in lowered or "could not translate host name" in lowered:
        host = where.rsplit(":", 1)[0]
        return HostNotFound(f"cannot resolve the database host {host!r}: fix {WHERE_DSN}")
    if "does not exist" in lowered and "database" in lowered:
        return DatabaseMissing(
            f"database {dbname!r} does not exist on {where}: create it (createdb {dbname}) "
            f"or fix {WHERE_DSN}"
        )
    if "authentication failed" in lowered or ("role" in lowered and "does not exist" in lowered) \
            or "no pg_hba.conf entry" in lowered or "password" in lowered:
        found = _QUOTED.findall(text.split("FATAL:")[-1])
        user = found[0] if found else "?"
        return AuthenticationFailed(
            f"PostgreSQL at {where} refused user {user!r} ({first.split('FATAL:')[-1].strip()}): "
            f"fix the user or password in {WHERE_DSN}"
        )
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return ServerUnreachable(
            f"nothing accepts connections at {where} (connection refused): start PostgreSQL "
            f"or fix {WHERE_DSN}"
        )
    if "timeout expired" in lowered or "timed out" in lowered:
        return ServerUnreachable(
            f"no answer from {where} within {FIRST_CONNECT_TIMEOUT_S} s: check that PostgreSQL "
            f"is up and reachable from here, or fix {WHERE_DSN}"
        )
    return DatabaseUnavailable(f"cannot reach the database at {where} ({first}): fix {WHERE_DSN}")


def check_reachable(dsn: str) -> None:
    """Connect once and hang up; raise the :func:`connect_error` sentence (no password)."""
    try:
        with psycopg.connect(dsn, **connect_kwargs()):
            pass
    except psycopg.Error as exc:
        raise connect_error(dsn, exc) from None


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """The row of db_probe.sql."""

    in_recovery: bool
    dbname: str
    installed: bool
    """Whether pgqueue's migration table exists."""


def probe(dsn: str, *, schema: bool = True) -> str | None:
    """Check once that ``dsn`` can serve pgqueue; return the schema's revision.

    Connects with a :data:`FIRST_CONNECT_TIMEOUT_S` timeout and raises, as one sentence:
    InvalidDsn, HostNotFound, ServerUnreachable, DatabaseMissing, AuthenticationFailed
    (see :func:`connect_error`), ReadOnlyDatabase for a standby in recovery, and with
    ``schema`` SchemaMissing when ``pgqueue migrate`` never ran. Whether the revision is
    the one this pgqueue needs is :func:`check_revision`'s job.
    """
    from ._sql import query

    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
        kwargs = {**connect_kwargs(), "connect_timeout": FIRST_CONNECT_TIMEOUT_S}
        with psycopg.connect(dsn, autocommit=True, **kwargs) as conn:
            row = conn.cursor(row_factory=class_row(ProbeRow)).execute(query("db_probe")).fetchone()
            assert row is not None
            revision = None
            if row.installed:
                revision = _revision.read(conn)
    except psycopg.Error as exc:
        raise connect_error(dsn, exc) from None
    where, _ = _where(dsn)
    if row.in_recovery:
        raise ReadOnlyDatabase(
            f"{where} is a read-only standby (in recovery); point the DSN at the primary, "
            "or list every host with target_session_attrs=read-write"
        )
    if schema and revision is None:
        raise SchemaMissing(f"database {row.dbname!r} has no pgqueue schema; run `pgqueue migrate`")
    return revision


def check_revision(revision: str | None) -> str | None:
    """Raise SchemaOutOfDate when ``revision`` is older than this pgqueue's head (or None);
    return a warning sentence when it is newer (a newer release migrated: compatible,
    migrations only add), else None."""
    head = _revision.head()
    status = _revision.schema_status(revision, head)
    if status == _revision.MISSING:
        raise SchemaMissing("the database has no pgqueue schema; run `pgqueue migrate`")
    if status == _revision.BEHIND:
        raise SchemaOutOfDate(
            f"the pgqueue schema is at revision {revision}, this pgqueue needs {head}; {MIGRATE_HINT}"
        )
    if status == _revision.NEWER:
        return f"the pgqueue schema ({revision}) is newer than this pgqueue ({head}); upgrade pgqueue"
    return None


READ_ONLY_ERRORS = (psycopg.errors.ReadOnlySqlTransaction,)
SCHEMA_ERRORS = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedObject,
    psycopg.errors.InvalidSchemaName,
)


def translate(dsn: str, exc: BaseException) -> BaseException:
    """The one-sentence PgQueueError for a psycopg error that means the environment is
    wrong (schema missing or behind, standby, connection lost); else ``exc`` itself."""
    if isinstance(exc, READ_ONLY_ERRORS):
        where, _ = _where(dsn) if dsn else ("the database", "")
        return ReadOnlyDatabase(
            f"{where} is read-only (a standby, or default_transaction_read_only); point the DSN "
            "at the primary, or list every host with target_session_attrs=read-write"
        )
    if isinstance(exc, SCHEMA_ERRORS) and dsn:
        try:
            revision = probe(dsn, schema=False)
            check_revision(revision)
        except PgQueueError as found:
            return found
    return exc


class AppPool(ConnectionPool[psycopg.Connection[TupleRow]]):
    """An App's pool: errors that mean "wrong schema" or "read-only server" leave
    ``connection()`` blocks as their one-sentence PgQueueError (see :func:`translate`)."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[TupleRow]]:
        try:
            with super().connection(timeout) as conn:
                yield conn
        except (*READ_ONLY_ERRORS, *SCHEMA_ERRORS) as exc:
            found = translate(str(self.conninfo), exc)
            if found is exc:
                raise
            raise found from exc


def make_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    name: str = APPLICATION_NAME,
    configure: Callable[[psycopg.Connection[TupleRow]], None] | None = None,
) -> ConnectionPool[psycopg.Connection[TupleRow]]:
    """An open pool of autocommit connections; each statement commits on its own.
    ``configure`` is called once on every new connection (psycopg_pool's hook)."""
    return ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, **connect_kwargs(name)},
        name=name,
        configure=configure,
        open=True,
    )


async def make_async_pool(
    dsn: str, *, min_size: int, max_size: int, name: str = APPLICATION_NAME
) -> AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]:
    import asyncio

    await asyncio.to_thread(probe, dsn)  # the same one-sentence failures as the sync pool
    pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, **connect_kwargs(name)},
        name=name,
        configure=prepare_if_direct_async,
        open=False,
    )
    # wait=True: no connection is still being opened when the loop ends (its cancellation
    # would be logged by psycopg_pool as a failed connection attempt)
    await pool.open(wait=True, timeout=30)
    return pool


class LazyPool:
    """Creates its pool on first use, once, even when threads race for it.

    Before the pool, :func:`probe` checks the database once, so an App whose database is
    missing, unreachable or read-only raises that as one PgQueueError sentence within
    seconds (and again on the next use). A schema that is missing or too old surfaces as
    SchemaMissing / SchemaOutOfDate when a statement needs it (see :class:`AppPool`)."""

    def __init__(self, dsn_factory: Any, min_size: int, max_size: int) -> None:
        self._dsn_factory = dsn_factory
        self._min = min_size
        self._max = max_size
        self._pool: AppPool | None = None
        self._lock = threading.Lock()

    def get(self) -> AppPool:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    dsn = self._dsn_factory()
                    # One sentence within seconds, never a pool retrying for 30 s. A missing
                    # or old schema is found when a statement fails (AppPool), so this
                    # costs one round trip and no Alembic import.
                    probe(dsn, schema=False)
                    self._pool = AppPool(
                        dsn,
                        min_size=self._min,
                        max_size=self._max,
                        kwargs={"autocommit": True, **connect_kwargs(APPLICATION_NAME)},
                        name=APPLICATION_NAME,
                        configure=prepare_if_direct,
                        open=True,
                    )
                pool = self._pool
        return pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
