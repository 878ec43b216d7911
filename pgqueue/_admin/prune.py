"""Deleting finished jobs: ``pgqueue prune`` and the retention the workers apply.

Only terminal jobs (succeeded, dead, cancelled) are ever deleted, each state after its
own retention, in batches of ``batch_size`` rows, one short transaction per batch with a
``lock_timeout`` so maintenance never queues live workers behind a table lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import Connection

from .._settings import Retention
from .._sql import query
from .._state import TERMINAL, JobState
from ..errors import InvalidOption

if TYPE_CHECKING:
    from .._types import AppLike

PRUNE_BATCH = 5000
LOCK_TIMEOUT_S = 1.0
RETENTION_MAX_BATCHES = 20


def parse_retention(text: str, base: Retention | None = None) -> Retention:
    """``"7d"`` (every finished state), or per state ``"succeeded=1d,dead=30d"``
    (states not named keep ``base``'s age, default :class:`Retention`'s); ``never``
    keeps a state for ever. Raises InvalidOption naming what was wrong."""
    from .._durations import parse_duration

    start = base if base is not None else Retention()
    ages: dict[str, timedelta | None] = {
        "succeeded": start.succeeded, "cancelled": start.cancelled, "dead": start.dead
    }
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InvalidOption("retention is empty; write an age such as 7d, or e.g. succeeded=1d,dead=30d")

    def age(value: str) -> timedelta | None:
        return None if value.strip().lower() == "never" else parse_duration(value)

    if len(parts) == 1 and "=" not in parts[0]:
        one = age(parts[0])
        return Retention(succeeded=one, cancelled=one, dead=one)
    for part in parts:
        state, sep, value = part.partition("=")
        state = state.strip()
        if not sep or state not in ages:
            raise InvalidOption(
                f"retention part {part!r} is not understood; write STATE=AGE with STATE one of "
                "succeeded, cancelled, dead (e.g. succeeded=1d,dead=30d), or one age for all"
            )
        ages[state] = age(value)
    return Retention(**ages)



@dataclass(slots=True)
class PruneResult:
    """Rows deleted (or, in a dry run, that would be) per state; ``complete`` is False
    when a ``max_batches`` cap stopped the run before everything eligible was gone."""

    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    dry_run: bool = False
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _states(states: Iterable[str | JobState]) -> list[str]:
    out = []
    for s in states:
        try:
            state = JobState(s)
        except ValueError:
            state = None
        if state is None or state not in TERMINAL:
            raise InvalidOption(f"only finished jobs can be pruned (succeeded, cancelled, dead), not {s!r}")
        out.append(state.value)
    return out


def prune(
    app: AppLike,
    *,
    older_than: timedelta | None = None,
    states: Iterable[str | JobState] = ("succeeded", "cancelled", "dead"),
    retention: Retention | None = None,
    dry_run: bool = False,
    batch_size: int = PRUNE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> PruneResult:
    """Delete finished jobs of ``states`` that finished more than ``older_than`` ago.

    Without ``older_than`` each state keeps its ``retention`` (default
    :class:`Retention`). ``dry_run`` only counts. ``progress`` is called after each
    batch with the rows it deleted. Raises InvalidOption for a non-terminal state, a
    negative age or a batch size below 1.
    """
    if older_than is not None and older_than < timedelta(0):
        raise InvalidOption(f"older_than must be >= 0, got {older_than}")
    chosen = _states(states)
    ages = (retention or Retention()).ages()
    plan = {
        s: older_than if older_than is not None else ages[s]
        for s in chosen
        if older_than is not None or s in ages
    }
    with app.pool.connection() as conn:
        return prune_on(conn, plan, dry_run=dry_run, batch_size=batch_size, progress=progress)


def prune_on(
    conn: Connection[Any],
    plan: dict[str, timedelta],
    *,
    dry_run: bool = False,
    batch_size: int = PRUNE_BATCH,
    max_batches: int | None = None,
    elect: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PruneResult:
    """Prune on an autocommit connection: ``plan`` maps state -> minimum age.

    ``elect``: each batch first takes the retention election as a transaction-scoped
    advisory lock; when another process holds it, raises _NotElected. Being scoped to
    the batch's own transaction keeps it correct behind a transaction pooler.
    """
    if batch_size < 1:
        raise InvalidOption(f"batch_size must be >= 1, got {batch_size}")
    now = datetime.now(UTC)
    result = PruneResult(dry_run=dry_run)
    for state, age in plan.items():
        params = {"state": state, "cutoff": now - age, "batch": batch_size}
        if dry_run:
            row = conn.execute(query("admin_prune_count"), params).fetchone()
            result.deleted[state] = int(row[0]) if row else 0
            continue
        result.deleted[state] = 0
        while True:
            if max_batches is not None and result.batches >= max_batches:
                result.complete = False
                return result
            with conn.transaction():
                if elect:
                    won = conn.execute(query("admin_retention_lock")).fetchone()
                    if not (won and won[0]):
                        raise _NotElected
                conn.execute(query("admin_lock_timeout"), {"timeout": f"{LOCK_TIMEOUT_S}s"})
                n = conn.execute(query("admin_prune_batch"), params).rowcount
            result.batches += 1
            result.deleted[state] += n
            if progress is not None:
                progress(n)
            if n < batch_size:
                break
    return result


def run_retention(
    target: AppLike | Connection[Any],
    retention: Retention | None = None,
    *,
    batch_size: int = PRUNE_BATCH,
    max_batches: int = RETENTION_MAX_BATCHES,
) -> PruneResult | None:
    """One retention pass, for a worker's maintenance loop; call it every minute or so.

    Only one process prunes at a time: every batch runs under a transaction-scoped
    advisory lock (safe behind pgbouncer), and the pass returns None at once when
    another process holds it. It deletes at most
    ``max_batches`` batches (``complete`` False means more is due: call again soon).
    A batch that waits ``LOCK_TIMEOUT_S`` for a lock ends the pass quietly (None).
    ``target`` is an App (a pool connection is used) or an autocommit connection.
    """
    plan = (retention or Retention()).ages()
    if isinstance(target, Connection):
        return _retention_pass(target, plan, batch_size, max_batches)
    with target.pool.connection() as conn:
        return _retention_pass(conn, plan, batch_size, max_batches)


def _retention_pass(
    conn: Connection[Any], plan: dict[str, timedelta], batch_size: int, max_batches: int
) -> PruneResult | None:
    try:
        return prune_on(conn, plan, batch_size=batch_size, max_batches=max_batches, elect=True)
    except (_NotElected, psycopg.errors.LockNotAvailable):
        return None


class _NotElected(Exception):
    """Another process holds the retention election."""
