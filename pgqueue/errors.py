"""One exception tree for everything pgqueue raises on purpose.

Errors a user can cause also subclass the matching built-in (``ValueError``,
``TypeError``, ``LookupError``) so existing ``except`` clauses keep working.
Control-flow signals raised *by tasks* (:class:`Retry`, :class:`Snooze`,
:class:`Discard`) live here too.
"""

from __future__ import annotations

from typing import Any


class PgQueueError(Exception):
    """Base class of every error pgqueue raises on purpose."""


class ConfigurationError(PgQueueError, ValueError):
    """A setting or option has a value pgqueue cannot work with."""


class DatabaseNotFound(PgQueueError, RuntimeError):
    """No database could be located (no DSN given and no embedded server)."""


class DatabaseUnavailable(PgQueueError, ConnectionError):
    """The database could not be reached or used (wrong DSN, server down, network).

    Its message is one sentence naming the cause and the fix; the subclasses say which
    cause. The CLI exits 3 for every one of them.
    """


class ServerUnreachable(DatabaseUnavailable):
    """Nothing answered at the DSN's host and port: server down, wrong port, no route,
    or no answer within the connect timeout."""


class HostNotFound(DatabaseUnavailable):
    """The DSN's host name does not resolve."""


class DatabaseMissing(DatabaseUnavailable):
    """The server answered, but the DSN's database does not exist on it."""


class AuthenticationFailed(DatabaseUnavailable):
    """The server refused the DSN's user (wrong password, unknown role, pg_hba.conf)."""


class ReadOnlyDatabase(DatabaseUnavailable):
    """The DSN reaches a read-only standby (in recovery) instead of the primary."""


class InvalidDsn(PgQueueError, ValueError):
    """The DSN is neither a ``postgresql://`` URL nor a libpq ``key=value`` string."""


class EmbeddedServerError(PgQueueError, RuntimeError):
    """The embedded PostgreSQL server could not be started or stopped."""


class InvalidName(PgQueueError, ValueError):
    """A queue or task name breaks the naming rule ``[A-Za-z0-9_.:-]{1,N}``."""


class InvalidPayload(PgQueueError, TypeError):
    """Task arguments (or a result) cannot be stored as JSON."""


class PayloadTooLarge(PgQueueError, ValueError):
    """The encoded arguments exceed the configured cap (``max_payload_bytes``)."""


class InvalidOption(PgQueueError, ValueError):
    """An enqueue option is out of range (priority, delay, max_attempts ...)."""


class UnknownTask(PgQueueError, LookupError):
    """A task name is not registered on the app."""


class UnsupportedConnection(PgQueueError, TypeError):
    """``conn=`` is not something pgqueue can write through (psycopg 3 or SQLAlchemy on psycopg)."""


class JobNotFound(PgQueueError, LookupError):
    """No job has the requested id."""


class JobFailed(PgQueueError):
    """The job ended ``dead`` or ``cancelled``; ``last_error`` says why."""

    def __init__(self, job_id: int, state: str, last_error: str | None) -> None:
        self.job_id = job_id
        self.state = state
        self.last_error = last_error
        super().__init__(f"job {job_id} ended {state}: {last_error or 'no error recorded'}")


class JobExpired(PgQueueError):
    """The type recorded (``pgqueue.JobExpired`` in ``jobs.errors``) for a job that reached
    its ``expires`` time before a worker started it: the claim ended it ``cancelled``
    without running it. Waiting on such a job raises :class:`JobFailed`."""


class SchemaOutOfDate(PgQueueError, RuntimeError):
    """The database schema is not at the revision this pgqueue expects: run
    ``pgqueue migrate``. The CLI exits 4."""


class SchemaMissing(SchemaOutOfDate):
    """The database has no pgqueue schema at all (``pgqueue migrate`` never ran)."""


# --- signals raised from inside a task -----------------------------------------------------


class TaskSignal(PgQueueError):
    """Base of the exceptions a task raises to steer its own job."""


class Retry(TaskSignal):
    """Fail this attempt and retry, after ``delay`` seconds if given (else the back-off)."""

    def __init__(self, delay: float | None = None, *, exc: BaseException | None = None) -> None:
        self.delay = delay
        self.exc = exc
        super().__init__(f"retry requested (delay={delay})" if exc is None else repr(exc))


class Snooze(TaskSignal):
    """Put the job back for ``delay`` seconds without using up an attempt."""

    def __init__(self, delay: float) -> None:
        if delay < 0:
            raise InvalidOption(f"Snooze delay must be >= 0 seconds, got {delay!r}")
        self.delay = delay
        super().__init__(f"snoozed for {delay}s")


class JobCancelled(TaskSignal):
    """The job was cancelled while running: raised by ``ctx.raise_if_cancelled()``.

    A running job ends ``cancelled`` once an operator cancelled it (``job.cancel()``,
    ``pgqueue jobs cancel``), whether its task then raises this or returns.
    """

    def __init__(self, message: str = "cancelled by an operator while running") -> None:
        super().__init__(message)


class Discard(TaskSignal):
    """Send the job to the dead letter state now, without further attempts."""

    def __init__(self, reason: Any = None) -> None:
        self.reason = reason
        super().__init__(str(reason) if reason is not None else "discarded")
