"""What became of one attempt, and the retry policy that decides it (pure, no I/O)."""

from __future__ import annotations

import enum
import json
import linecache
import logging
import random
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Final

from .._options import TaskOptions
from ..errors import Discard, JobCancelled, Retry, Snooze

TRACEBACK_MAX_CHARS = 16_000
"""Longer tracebacks keep their tail (where the error is) to bound the row size."""
MESSAGE_MAX_CHARS = 4_000
"""Longer messages keep their head; the same cap bounds ``last_error``."""
CHAIN_MAX = 10
"""At most this many exceptions of a ``__cause__``/``__context__`` chain are shown (the
newest ones)."""
REPEAT_MAX = 3
"""A frame repeated more often in a row (recursion) is shown this often, then counted."""


class Kind(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    SNOOZE = "snooze"
    DEAD = "dead"
    HANDBACK = "handback"
    CANCELLED = "cancelled"

    @property
    def info(self) -> KindInfo:
        """What this kind means (:data:`OUTCOMES`)."""
        return OUTCOMES[self]


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What one outcome kind means, for every part of pgqueue that acts on it.

    ``state``: the job's state once the outcome is written (complete_mixed.sql).
    ``refund``: the attempt does not count. ``level``: the worker's log line for it
    (``detail``: with the attempt's error). ``hooks``: the job events fired after the
    write, in order (``job_failed`` only when the attempt raised). ``metric``: the
    ``pgqueue_jobs_<metric>`` counter (None: not counted). ``stat``: the
    :class:`~pgqueue.WorkerStats` field (and :class:`pgqueue.testing.DrainResult` list).
    """

    state: str
    refund: bool
    level: int
    detail: bool
    hooks: tuple[str, ...]
    metric: str | None
    stat: str


OUTCOMES: Final[Mapping[Kind, KindInfo]] = MappingProxyType(
    {
        Kind.SUCCEEDED: KindInfo(
            "succeeded", False, logging.DEBUG, False, ("job_succeeded",), "succeeded", "succeeded"
        ),
        Kind.RETRY: KindInfo(
            "queued", False, logging.INFO, True, ("job_failed", "job_retried"), "retried", "retried"
        ),
        Kind.SNOOZE: KindInfo("queued", True, logging.INFO, False, ("job_snoozed",), "snoozed", "snoozed"),
        Kind.DEAD: KindInfo("dead", False, logging.WARNING, True, ("job_failed", "job_dead"), "dead", "dead"),
        # A shutdown hand-back: the job goes back unchanged, attempt refunded; no hook, no metric.
        Kind.HANDBACK: KindInfo("queued", True, logging.INFO, False, (), None, "handed_back"),
        Kind.CANCELLED: KindInfo(
            "cancelled", False, logging.INFO, False, ("job_cancelled",), "cancelled", "cancelled"
        ),
    }
)
"""The one table of outcome kinds; the completer, the worker's log lines and stats, hooks,
metrics and :mod:`pgqueue.testing` all read it."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result, written by the completer behind the (id, attempt, worker) fence.

    ``result`` and ``error`` are JSON text (already encoded); ``delay`` is seconds
    until the next attempt (None keeps run_at, for hand-backs).
    """

    kind: Kind
    job_id: int
    attempt: int
    result: str | None = None
    error: str | None = None
    last_error: str | None = None
    delay: float | None = None
    written: bool = False
    """Already written, in the task's own transaction (transactional tasks): the completer
    reports it without writing it again."""

    @property
    def refund(self) -> int:
        """1 when the attempt does not count (snooze, shutdown hand-back)."""
        return 1 if OUTCOMES[self.kind].refund else 0


def backoff_delay(opts: TaskOptions, attempt: int, rand: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempt`` (1-based) failed.

    The task's ``backoff`` function wins when set; otherwise
    ``min(backoff_max, backoff_base * 2 ** (attempt - 1))`` randomised by
    +/- ``backoff_jitter`` (a fraction), never negative.
    """
    if opts.backoff is not None:
        return max(0.0, float(opts.backoff(attempt)))
    base = min(opts.backoff_max, opts.backoff_base * 2.0 ** max(0, attempt - 1))
    spread = (rand or random).uniform(-opts.backoff_jitter, opts.backoff_jitter)
    return max(0.0, min(opts.backoff_max, base * (1.0 + spread)))


def error_entry(exc: BaseException, attempt: int) -> tuple[str, str]:
    """(JSON entry for the errors array, the one-line last_error) for a failed attempt.

    Never raises, even for an exception whose ``__str__`` does.
    """
    etype = type(exc)
    name = (
        etype.__qualname__ if etype.__module__ == "builtins" else f"{etype.__module__}.{etype.__qualname__}"
    )
    message = _cap_message(_safe_str(exc))
    tb = format_traceback(exc)
    if len(tb) > TRACEBACK_MAX_CHARS:
        tb = "...\n" + tb[-TRACEBACK_MAX_CHARS:]
    entry = {
        "at": datetime.now(UTC).isoformat(),
        "attempt": attempt,
        "type": name,
        "message": message,
        "traceback": tb,
    }
    return json.dumps(entry), f"{etype.__name__}: {message}" if message else etype.__name__


def format_traceback(exc: BaseException) -> str:
    """``exc``'s traceback as Python prints it, minus the ``^^^`` position markers.

    Each frame shows file, line, function and source line; the ``__cause__`` /
    ``__context__`` chain comes first, as in ``traceback.format_exception``, and
    recursion is folded the same way. It skips what made the stock formatter the
    largest CPU cost of a failed attempt on Python 3.11 (about 85 us for a three-frame
    stack, 140-170 us inside a busy worker; this takes 17-30 us): the caret positions,
    found by re-parsing every source line with ``ast``, and a ``stat`` of every file to
    refresh ``linecache``. Without that refresh, a file edited after it was first read
    shows the lines the running code was loaded from, which is what ran. Exception
    groups keep the stock formatter (their nested layout).
    """
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen and len(chain) < CHAIN_MAX:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    if any(isinstance(e, BaseExceptionGroup) for e, _ in chain):
        try:
            return "".join(traceback.format_exception(exc))
        except Exception:
            pass
    parts: list[str] = []
    for e, link in reversed(chain):  # oldest first; each one's link leads to the next
        _format_one(e, parts)
        if link is not None:
            parts.append(link)
    return "".join(parts)


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _format_one(exc: BaseException, parts: list[str]) -> None:
    tb: TracebackType | None = exc.__traceback__
    if tb is not None:
        parts.append("Traceback (most recent call last):\n")
    last: tuple[str, int | None, str] | None = None
    repeated = 0
    while tb is not None:
        code = tb.tb_frame.f_code
        lineno: int | None = tb.tb_lineno
        key = (code.co_filename, lineno, code.co_name)
        tb = tb.tb_next
        if key == last:
            repeated += 1
            if repeated >= REPEAT_MAX:
                continue
        else:
            _repeats(parts, repeated)
            last, repeated = key, 0
        filename, _, func = key
        parts.append(f'  File "{filename}", line {lineno}, in {func}\n')
        if lineno is not None:
            line = linecache.getline(filename, lineno).strip()
            if line:
                parts.append(f"    {line}\n")
    _repeats(parts, repeated)
    try:
        parts.extend(traceback.format_exception_only(type(exc), exc))
    except Exception:  # a broken __str__ or __notes__: still say what it was
        parts.append(f"{type(exc).__qualname__}: <exception str() failed>\n")


def _repeats(parts: list[str], repeated: int) -> None:
    hidden = repeated - REPEAT_MAX + 1
    if hidden > 0:
        parts.append(f"  [Previous line repeated {hidden} more time{'s' if hidden > 1 else ''}]\n")


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def _cap_message(message: str) -> str:
    if len(message) <= MESSAGE_MAX_CHARS:
        return message
    return f"{message[:MESSAGE_MAX_CHARS]}... ({len(message) - MESSAGE_MAX_CHARS} more characters)"


def decide(
    exc: BaseException, opts: TaskOptions | None, job_id: int, attempt: int, max_attempts: int
) -> Outcome:
    """Turn an exception raised by a task into the attempt's outcome.

    Order: Snooze (attempt refunded) - Discard and ``discard_on`` (dead now) - Retry
    (explicit delay, else the back-off) - an exception ``retry_on`` does not cover
    (dead now) - the last attempt (dead) - else retry after the back-off.
    ``opts`` is None for a task this worker does not know (retried with the default
    back-off, in case another worker does).
    """
    if isinstance(exc, Snooze):
        return Outcome(Kind.SNOOZE, job_id, attempt, delay=exc.delay)
    cause: BaseException = exc.exc if isinstance(exc, Retry) and exc.exc is not None else exc
    error, last_error = error_entry(cause, attempt)
    dead = Outcome(Kind.DEAD, job_id, attempt, error=error, last_error=last_error)
    if isinstance(exc, Discard) or (opts is not None and isinstance(exc, opts.discard_on)):
        return dead
    if attempt >= max_attempts:
        return dead
    if isinstance(exc, Retry):
        delay = exc.delay if exc.delay is not None else _default_delay(opts, attempt)
        return Outcome(Kind.RETRY, job_id, attempt, error=error, last_error=last_error, delay=delay)
    if opts is not None and opts.retry_on and not isinstance(exc, opts.retry_on):
        return dead
    return Outcome(
        Kind.RETRY, job_id, attempt, error=error, last_error=last_error, delay=_default_delay(opts, attempt)
    )


def _default_delay(opts: TaskOptions | None, attempt: int) -> float:
    if opts is None:
        return min(3600.0, 2.0 ** max(0, attempt - 1))
    return backoff_delay(opts, attempt)


def succeeded(job_id: int, attempt: int, result: str | None) -> Outcome:
    return Outcome(Kind.SUCCEEDED, job_id, attempt, result=result)


def cancelled(job_id: int, attempt: int, exc: BaseException | None = None) -> Outcome:
    """An operator cancelled the running job: it ends ``cancelled``, never retried.

    The error entry is ``exc`` when the task raised :class:`JobCancelled` itself
    (``ctx.raise_if_cancelled()``, so its traceback shows where), else a plain one.
    """
    cause = exc if isinstance(exc, JobCancelled) else JobCancelled()
    error, last_error = error_entry(cause, attempt)
    return Outcome(Kind.CANCELLED, job_id, attempt, error=error, last_error=last_error)


def handback(job_id: int, attempt: int) -> Outcome:
    """Shutdown: the job goes back to 'queued' with its attempt refunded and run_at kept."""
    return Outcome(Kind.HANDBACK, job_id, attempt)
