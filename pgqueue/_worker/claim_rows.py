"""What a claim statement returns, decoded by column name (a psycopg row factory).

The claims (claim.sql, claim_bounded.sql, claim_limited.sql, claim_task.sql, claim_job.sql)
return the columns of :class:`pgqueue.job.JobRow` for each claimed job and, after them,
marker rows with ``id`` NULL: a queue or task that is at its limit (or newly limited),
named in the ``queue`` column, with ``run_at`` = when it can start more and ``started_at``
= the claim's own clock reading. :func:`claim_row` turns each row into a :class:`JobRow`
or a :class:`Marker`; a column that is not a JobRow field is an error at the first row,
not a shifted value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from psycopg.rows import RowMaker

from ..job import JobRow, JobState

FIELDS: Final = frozenset(f.name for f in dataclasses.fields(JobRow))


@dataclass(frozen=True, slots=True)
class Marker:
    """A queue or task that took no more jobs in this claim."""

    name: str
    """The queue (fast and limited claims) or task (task-limited claim)."""
    wait_s: float | None
    """Seconds until it can start more, by the claim's clock; None when the row says only
    that the queue has a limit (the fast claim learning of one)."""


ClaimRow = JobRow | Marker


def claim_row(cursor: Any) -> RowMaker[ClaimRow]:  # any cursor (BaseCursor is private)
    """Row factory for the claim statements (``conn.cursor(row_factory=claim_row)``)."""
    if cursor.description is None:
        raise TypeError("claim_row: the statement returned no rows")
    names = [c.name for c in cursor.description]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise TypeError(f"claim_row: columns {unknown} are not fields of JobRow")

    def make(values: Any) -> ClaimRow:
        row = dict(zip(names, values, strict=True))
        if row["id"] is None:
            run_at, clock = row.get("run_at"), row.get("started_at")
            wait = None if run_at is None or clock is None else (run_at - clock).total_seconds()
            return Marker(row["queue"], wait)
        row["state"] = JobState(row["state"])
        return JobRow(**row)

    return make


def split(rows: list[ClaimRow]) -> tuple[list[JobRow], list[Marker]]:
    """The claimed jobs and the markers, each in the order returned."""
    jobs = [r for r in rows if isinstance(r, JobRow)]
    markers = [r for r in rows if isinstance(r, Marker)]
    return jobs, markers
