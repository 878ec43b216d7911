"""How long the hot path's statements take: the claim (claim.sql, claim_bounded.sql) and
the batched completion (complete_success.sql, complete_mixed.sql), one reading per
statement (a batch, never a job), for whoever listens in this process: the Prometheus
histogram ``pgqueue_statement_duration_seconds`` (pgqueue._metrics).

The statements are timed with ``time.perf_counter`` around the execute they already
make; nothing is sent to the database. With no listener a reading costs one call and an
empty loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

Sink = Callable[[str, float], None]
"""Receives (statement, seconds); statement is one of :data:`STATEMENTS`."""

STATEMENTS: Final = ("claim", "complete")
_sinks: list[Sink] = []


def add_sink(sink: Sink) -> None:
    """Receive every reading of this process from now on (idempotent)."""
    if sink not in _sinks:
        _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def record(statement: str, seconds: float) -> None:
    """One statement took ``seconds`` (called on the hot path: must stay cheap)."""
    for sink in _sinks:
        sink(statement, seconds)
