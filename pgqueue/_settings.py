"""Named defaults with units, gathered in one frozen, validated settings object."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Final

from .errors import ConfigurationError, InvalidOption

DISTRIBUTION: Final = "pgqueue-jobs"
"""The package's name on the package index (``import pgqueue`` keeps the short name: the
index's ``pgqueue`` is an unrelated project)."""
SCHEMA: Final = "pgqueue"
NOTIFY_CHANNEL: Final = "pgqueue_jobs"
CONTROL_CHANNEL: Final = "pgqueue_control"
DEFAULT_QUEUE: Final = "default"

HIGH: Final = 10
NORMAL: Final = 0
LOW: Final = -10

# The naming rule shared with the database CHECK constraints.
NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.:-]+$")
QUEUE_NAME_MAX: Final = 128
TASK_NAME_MAX: Final = 255

SMALLINT_MIN: Final = -32768
SMALLINT_MAX: Final = 32767

MAX_ATTEMPTS: Final = 5
BACKOFF_BASE_S: Final = 1.0
BACKOFF_MAX_S: Final = 3600.0
BACKOFF_JITTER: Final = 0.25
RETENTION_SUCCEEDED_S: Final = 7 * 86400.0
RETENTION_CANCELLED_S: Final = 7 * 86400.0
RETENTION_DEAD_S: Final = 30 * 86400.0
MAX_PAYLOAD_BYTES: Final = 1024 * 1024
POOL_MIN_SIZE: Final = 1
POOL_MAX_SIZE: Final = 10
WAKE_WINDOW_MS: Final = 4
WAKE_WINDOW_MAX_MS: Final = 1000
WAKE_BURST: Final = 8
WAKE_BURST_MAX: Final = 1000


@dataclass(frozen=True, slots=True)
class Settings:
    """Tunable knobs of an :class:`~pgqueue.App`.

    Every field is validated on construction; a bad value raises
    :class:`~pgqueue.errors.ConfigurationError` naming the field. The ``default_*``
    fields are the app-wide defaults of the task options of the same name (a task's own
    option wins; ``App(default_timeout=30)`` sets them by keyword).
    """

    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    pool_min_size: int = POOL_MIN_SIZE
    pool_max_size: int = POOL_MAX_SIZE
    default_queue: str = DEFAULT_QUEUE
    default_max_attempts: int = MAX_ATTEMPTS
    default_priority: int = 0
    """Priority of tasks that set none (higher runs first)."""
    default_timeout: float | None = None
    """Seconds one attempt of a task that sets no ``timeout`` may run (None: no limit)."""
    default_store_result: bool = True
    """Whether tasks that do not say keep their return value in the job row."""
    default_backoff_base: float = BACKOFF_BASE_S
    """Seconds before a failed job's 2nd attempt, doubling per attempt (tasks may override)."""
    default_backoff_max: float = BACKOFF_MAX_S
    default_backoff_jitter: float = BACKOFF_JITTER
    """Fraction of each back-off delay randomised (+/-); 0 for exact delays."""
    retention_succeeded_s: float | None = RETENTION_SUCCEEDED_S
    """How long finished jobs (with their results) are kept, per final state, before
    retention deletes them; None keeps them for ever. Read through ``App.retention``."""
    retention_cancelled_s: float | None = RETENTION_CANCELLED_S
    retention_dead_s: float | None = RETENTION_DEAD_S
    wake_window_ms: int = WAKE_WINDOW_MS
    """Single enqueues on pgqueue's own pool send their wake-up NOTIFY in their own commit
    while their queue's wake-ups from this process average at most one per this many
    milliseconds (past a burst of ``wake_burst``); beyond that rate the others are woken
    by a NOTIFY sent after their commit, at most this much later (pgqueue._wake).
    0: one NOTIFY per enqueue."""
    wake_burst: int = WAKE_BURST
    """How many single enqueues of one queue in a row may each send their own wake-up
    before the ``wake_window_ms`` rate limit applies."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigurationError(f"setting {f.name} must be an int, got {value!r}")
        positive = ("max_payload_bytes", "pool_max_size", "default_max_attempts")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigurationError(f"setting {name} must be >= 1, got {getattr(self, name)}")
        if self.pool_min_size < 0 or self.pool_min_size > self.pool_max_size:
            raise ConfigurationError(
                f"setting pool_min_size must be between 0 and pool_max_size "
                f"({self.pool_max_size}), got {self.pool_min_size}"
            )
        if not 0 <= self.wake_window_ms <= WAKE_WINDOW_MAX_MS:
            raise ConfigurationError(
                f"setting wake_window_ms must be between 0 and {WAKE_WINDOW_MAX_MS}, "
                f"got {self.wake_window_ms}"
            )
        if not 1 <= self.wake_burst <= WAKE_BURST_MAX:
            raise ConfigurationError(
                f"setting wake_burst must be between 1 and {WAKE_BURST_MAX}, got {self.wake_burst}"
            )
        check_name(self.default_queue, "queue", field="default_queue")
        if not SMALLINT_MIN <= self.default_priority <= SMALLINT_MAX:
            raise ConfigurationError(
                f"setting default_priority must be between {SMALLINT_MIN} and {SMALLINT_MAX}, "
                f"got {self.default_priority}"
            )
        if not isinstance(self.default_store_result, bool):
            raise ConfigurationError(
                f"setting default_store_result must be a bool, got {self.default_store_result!r}"
            )
        optional = ("default_timeout", "retention_succeeded_s", "retention_cancelled_s",
                    "retention_dead_s")
        for name in ("default_backoff_base", "default_backoff_max", "default_backoff_jitter",
                     *optional):
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if (not isinstance(value, int | float) or isinstance(value, bool)
                    or not value >= 0 or value == float("inf")):
                raise ConfigurationError(
                    f"setting {name} must be a finite number of seconds >= 0"
                    f"{' or None' if name in optional else ''}, got {value!r}"
                )
        if self.default_timeout is not None and not self.default_timeout > 0:
            raise ConfigurationError(
                f"setting default_timeout must be > 0 seconds or None, got {self.default_timeout!r}"
            )
        if self.default_backoff_jitter > 1:
            raise ConfigurationError(
                f"setting default_backoff_jitter must be between 0 and 1, "
                f"got {self.default_backoff_jitter!r}"
            )


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` of this package, for error messages."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def check_name(value: object, kind: str, *, field: str | None = None) -> str:
    """Return ``value`` if it is a valid queue/task name, else raise InvalidName.

    The rule is the one the database CHECK constraints enforce: 1..128 (queue) or
    1..255 (task) characters from ``[A-Za-z0-9_.:-]``.
    """
    from .errors import InvalidName

    limit = QUEUE_NAME_MAX if kind == "queue" else TASK_NAME_MAX
    label = field or f"{kind} name"
    if not isinstance(value, str):
        raise InvalidName(f"{label} must be a string, got {type(value).__name__}")
    if not value or len(value) > limit:
        raise InvalidName(f"{label} must be 1 to {limit} characters long, got {len(value)}")
    if not NAME_RE.match(value):
        raise InvalidName(
            f"{label} {value!r} may only contain letters, digits and _ . : - characters"
        )
    return value


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished jobs are kept, per state; ``None`` keeps them forever.

    Defaults: succeeded 7 days, cancelled 7 days, dead 30 days (the dead letter is
    kept longer so someone can look at it); an App's are ``app.retention``, from its
    ``retention_*_s`` settings.
    """

    succeeded: timedelta | None = timedelta(seconds=RETENTION_SUCCEEDED_S)
    cancelled: timedelta | None = timedelta(seconds=RETENTION_CANCELLED_S)
    dead: timedelta | None = timedelta(seconds=RETENTION_DEAD_S)

    def __post_init__(self) -> None:
        for state in ("succeeded", "cancelled", "dead"):
            value = getattr(self, state)
            if value is not None and value < timedelta(0):
                raise InvalidOption(f"retention for {state} must be >= 0 or None, got {value}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        """The retention of an App's ``retention_*_s`` settings (None: kept forever)."""

        def age(seconds: float | None) -> timedelta | None:
            return None if seconds is None else timedelta(seconds=seconds)

        return cls(
            succeeded=age(settings.retention_succeeded_s),
            cancelled=age(settings.retention_cancelled_s),
            dead=age(settings.retention_dead_s),
        )

    def ages(self) -> dict[str, timedelta]:
        return {
            state: age
            for state, age in (
                ("succeeded", self.succeeded),
                ("cancelled", self.cancelled),
                ("dead", self.dead),
            )
            if age is not None
        }
