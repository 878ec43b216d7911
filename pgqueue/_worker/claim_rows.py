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
from operator import itemgetter
from typing import Any, Final

from psycopg.rows import RowMaker

from ..job import JobRow, JobState

ORDER: Final = tuple(f.name for f in dataclasses.fields(JobRow))
FIELDS: Final = frozenset(ORDER)


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
    """Row factory for the claim statements (``conn.cursor(row_factory=claim_row)``).

    The columns are matched to JobRow's fields by name once per statement; each row is
    then built positionally (a dict per row cost ~2 µs a job, a tenth of a no-op job's
    worker CPU), or by keyword when the columns are not a prefix of JobRow's fields."""
    if cursor.description is None:
        raise TypeError("claim_row: the statement returned no rows")
    names = [c.name for c in cursor.description]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise TypeError(f"claim_row: columns {unknown} are not fields of JobRow")
    at = {n: i for i, n in enumerate(names)}
    id_i, queue_i = at["id"], at["queue"]
    run_i, clock_i = at.get("run_at"), at.get("started_at")

    def marker(values: Any) -> Marker:
        run_at = None if run_i is None else values[run_i]
        clock = None if clock_i is None else values[clock_i]
        wait = None if run_at is None or clock is None else (run_at - clock).total_seconds()
        return Marker(values[queue_i], wait)

    present = [f for f in ORDER if f in at]
    if present == list(ORDER[: len(present)]):
        take = itemgetter(*(at[f] for f in present))
        state_i = present.index("state")

        def make(values: Any) -> ClaimRow:
            if values[id_i] is None:
                return marker(values)
            fields = list(take(values))
            fields[state_i] = JobState(fields[state_i])
            return JobRow(*fields)

        return make

    def make_by_name(values: Any) -> ClaimRow:
        if values[id_i] is None:
            return marker(values)
        row = dict(zip(names, values, strict=True))
        row["state"] = JobState(row["state"])
        return JobRow(**row)

    return make_by_name


def split(rows: list[ClaimRow]) -> tuple[list[JobRow], list[Marker]]:
    """The claimed jobs and the markers, each in the order returned."""
    jobs = [r for r in rows if isinstance(r, JobRow)]
    markers = [r for r in rows if isinstance(r, Marker)]
    return jobs, markers
