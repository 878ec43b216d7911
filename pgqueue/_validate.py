"""Refusing bad enqueue input before anything is written.

Every check raises a :class:`~pgqueue.errors.PgQueueError` that is also the
matching built-in (``InvalidOption``/``InvalidName``/``PayloadTooLarge`` are
``ValueError``, ``InvalidPayload`` is ``TypeError``), with one sentence saying
what to fix. The JSON produced here is exactly what the database stores.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._settings import SMALLINT_MAX, SMALLINT_MIN, check_name
from .errors import InvalidOption, InvalidPayload, PayloadTooLarge

if TYPE_CHECKING:
    from ._options import EnqueueOptions, TaskOptions

UNIQUE_KEY_MAX = 512
"""Characters; a btree index entry must stay well under its ~2.7 kB page limit."""

# Strict JSON: NaN/Infinity are not JSON and jsonb refuses them. ensure_ascii keeps
# len(text) equal to its size in bytes, which is what the payload cap measures.
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def _make_fast_encoder() -> Callable[[Any], str]:
    """json's C encoder built once: JSONEncoder.encode rebuilds it on every call, which
    costs more than the encoding of a typical job's arguments. No markers dict (shared
    state between threads); a circular structure then ends in RecursionError."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (e.g. PyPy): the public, slower path
        return _ENCODER.encode
    c_encode = make(
        None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, False,
    )

    def fast(value: Any) -> str:
        return "".join(c_encode(value, 0))

    return fast


_encode = _make_fast_encoder()

UniqueKeyFn = Callable[..., "str | None"]
"""Computes a job's unique key from the task's own arguments (None: not unique)."""


def check_priority(priority: object) -> int:
    if type(priority) is not int:
        raise InvalidOption(f"priority must be an int, got {priority!r}")
    if not SMALLINT_MIN <= priority <= SMALLINT_MAX:
        raise InvalidOption(
            f"priority must be between {SMALLINT_MIN} and {SMALLINT_MAX}, got {priority}"
        )
    return priority


def check_max_attempts(value: object) -> int:
    if type(value) is not int or value < 1 or value > 2**31 - 1:
        raise InvalidOption(f"max_attempts must be an int from 1 to 2147483647, got {value!r}")
    return value


def check_delay(delay: object) -> float | None:
    """Seconds (int, float or timedelta) >= 0 and finite; None passes through."""
    if delay is None:
        return None
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise InvalidOption(f"delay must be a finite number of seconds >= 0, got {delay!r}")
    return float(seconds)


def check_run_at(run_at: object) -> datetime | None:
    if run_at is None:
        return None
    if not isinstance(run_at, datetime):
        raise InvalidOption(f"run_at must be a datetime, got {run_at!r}")
    if run_at.tzinfo is None or run_at.utcoffset() is None:
        raise InvalidOption("run_at must be timezone-aware (e.g. datetime.now(UTC))")
    return run_at


def check_expires(expires: object) -> tuple[float | None, datetime | None]:
    """``expires`` as (seconds from now, absolute time): a number of seconds >= 0 or a
    timedelta (counted from the enqueue, like Celery's), or an aware datetime."""
    if expires is None:
        return None, None
    if isinstance(expires, datetime):
        if expires.tzinfo is None or expires.utcoffset() is None:
            raise InvalidOption("expires must be timezone-aware (e.g. datetime.now(UTC))")
        return None, expires
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else expires
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise InvalidOption(
            f"expires must be seconds >= 0, a timedelta or an aware datetime, got {expires!r}"
        )
    return float(seconds), None


def check_tags(tags: object) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Sequence | set | frozenset):
        raise InvalidOption(f"tags must be a list of strings, got {tags!r}")
    out = list(tags)
    for tag in out:
        if not isinstance(tag, str) or "\x00" in tag:
            raise InvalidOption(f"tags must be strings without NUL characters, got {tag!r}")
    return out


def check_unique_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > UNIQUE_KEY_MAX or "\x00" in key:
        raise InvalidOption(
            f"unique_key must be a non-empty string of at most {UNIQUE_KEY_MAX} characters "
            "(no NUL), "
            f"got {key!r:.80}"
        )
    return key


def check_serial_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > UNIQUE_KEY_MAX or "\x00" in key:
        raise InvalidOption(
            f"serial_key must be a non-empty string of at most {UNIQUE_KEY_MAX} characters "
            f"(no NUL), got {key!r:.80}"
        )
    return key


def validate_task_options(opts: TaskOptions) -> None:
    """Raise InvalidOption for task defaults that could never make a valid job."""
    check_priority(opts.priority)
    check_max_attempts(opts.max_attempts)
    if opts.timeout is not None and not opts.timeout > 0:
        raise InvalidOption(f"timeout must be > 0 seconds or None, got {opts.timeout!r}")
    soft = opts.soft_timeout
    if soft is not None and not (isinstance(soft, int | float) and not isinstance(soft, bool) and soft > 0):
        raise InvalidOption(f"soft_timeout must be > 0 seconds or None, got {soft!r}")
    if soft is not None and opts.timeout is not None and not soft < opts.timeout:
        raise InvalidOption(
            f"soft_timeout ({soft}s) must be shorter than timeout ({opts.timeout}s): the soft "
            "limit raises inside the task first, the hard one kills it"
        )
    if opts.pool not in (None, "thread", "process"):
        raise InvalidOption(f"pool must be 'thread', 'process' or None, got {opts.pool!r}")
    if opts.unique_key is not None and not callable(opts.unique_key):
        check_unique_key(opts.unique_key)
    check_tags(opts.tags)
    if opts.rate_limit is not None:
        if not isinstance(opts.rate_limit, str):
            raise InvalidOption(
                f"task {opts.name!r}: rate_limit must be a string such as '10/m', got {opts.rate_limit!r}"
            )
        from ._durations import parse_rate

        parse_rate(opts.rate_limit)
    if opts.transactional and not opts.bind:
        raise InvalidOption(
            f"task {opts.name!r}: transactional=True needs bind=True, so that the task "
            "receives its transaction as ctx.conn (or ctx.session)"
        )


@dataclass(frozen=True, slots=True)
class Resolved:
    """One enqueue call's options: the task's defaults overridden by ``configure()``."""

    queue: str
    task: str
    priority: int
    max_attempts: int
    delay: float | None
    run_at: datetime | None
    tags: list[str]
    unique_key: str | None
    """A fixed key for every job of the call (None: see ``key_fn``)."""
    key_fn: UniqueKeyFn | None
    """Derives each job's key from its arguments (the task's ``unique_key`` callable)."""
    serial_key: str | None = None
    """Jobs sharing it run one at a time, in id order (the claim enforces it)."""
    expires_in: float | None = None
    """Seconds from the enqueue after which a job not yet started is dropped."""
    expires_at: datetime | None = None
    """The same as an absolute time (at most one of the two is set)."""


def resolve(task: TaskOptions, options: EnqueueOptions) -> Resolved:
    """Merge and check the options; raises InvalidName / InvalidOption."""
    if options.run_at is not None and options.delay is not None:
        raise InvalidOption("give either delay or run_at, not both")
    fixed: str | None = None
    key_fn: UniqueKeyFn | None = None
    if options.unique_key is not None:
        fixed = check_unique_key(options.unique_key)
    elif callable(task.unique_key):
        key_fn = task.unique_key
    else:
        fixed = task.unique_key
    expires_in, expires_at = check_expires(options.expires)
    return Resolved(
        queue=check_name(task.queue if options.queue is None else options.queue, "queue"),
        task=task.name,
        priority=check_priority(task.priority if options.priority is None else options.priority),
        max_attempts=check_max_attempts(
            task.max_attempts if options.max_attempts is None else options.max_attempts
        ),
        delay=check_delay(options.delay),
        run_at=check_run_at(options.run_at),
        tags=check_tags(task.tags if options.tags is None else options.tags),
        unique_key=fixed,
        key_fn=key_fn,
        serial_key=check_serial_key(options.serial_key),
        expires_in=expires_in,
        expires_at=expires_at,
    )


def encode(value: Any, what: str) -> str:
    """Strict JSON text of ``value`` as jsonb will store it; raises InvalidPayload.

    Refused: sets, bytes, arbitrary objects, NaN/Infinity, circular structures,
    and strings jsonb cannot hold (NUL characters, unpaired surrogates). Tuples
    become arrays; int/float/bool/None dict keys become strings (as ``json``
    does).
    """
    try:
        text = _encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} must be JSON-serialisable ({exc}); pass plain data") from None
    except RecursionError:
        raise InvalidPayload(f"{what} are circular or too deeply nested for JSON") from None
    if "\\u0000" in text or "\\ud" in text:
        _check_strings(value, what)
    return text


def _check_strings(value: Any, what: str) -> None:
    """The slow path, only for text that escaped a NUL or a surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidPayload(f"{what} contain a NUL character, which jsonb cannot store")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidPayload(
                    f"{what} contain an unpaired surrogate, which jsonb cannot store"
                ) from None
        elif isinstance(item, dict):
            stack.extend(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def check_size(args_json: str, kwargs_json: str, cap: int) -> None:
    size = len(args_json) + len(kwargs_json)
    if size > cap:
        raise PayloadTooLarge(
            f"job arguments are {size} bytes, over the {cap}-byte cap (max_payload_bytes); "
            "store large data elsewhere and pass a reference"
        )


_NO_NAMES: frozenset[str] = frozenset()


class ArgsCheck:
    """Checks that arguments fit the task function's signature, as a call would.

    Whether a call binds depends only on how many positional arguments there are
    and which keyword names are given, so results are cached per shape: bulk
    enqueues pay one dictionary lookup per job.
    """

    def __init__(self, fn: Callable[..., Any], name: str, *, skip_first: bool = False) -> None:
        self.name = name
        self._ok: set[tuple[int, frozenset[str]]] = set()
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature: anything goes
            self._sig = None
            return
        params = list(sig.parameters.values())
        if skip_first and params:
            params = params[1:]
        self._sig = sig.replace(parameters=params)

    def __call__(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        shape = (len(args), frozenset(kwargs) if kwargs else _NO_NAMES)
        if self._sig is None or shape in self._ok:
            return
        try:
            self._sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidPayload(f"task {self.name} cannot take these arguments: {exc}") from None
        if len(self._ok) < 1024:
            self._ok.add(shape)


def check_kwargs_keys(kwargs: Mapping[Any, Any]) -> None:
    for key in kwargs:
        if not isinstance(key, str):
            raise InvalidPayload(f"keyword argument names must be strings, got {key!r}")
