"""Every SQL statement pgqueue runs lives in a ``.sql`` file in this folder.

``query("claim")`` returns the text of ``claim.sql``. Files are read once and
cached. Library code never formats SQL; values travel as parameters and the few
identifiers that vary go through :mod:`psycopg.sql`. The NOTIFY channel names are
written ``/*NOTIFY_CHANNEL*/`` and ``/*CONTROL_CHANNEL*/`` and replaced at load by
the constants of :mod:`pgqueue._settings` (one home; a file read without the
replacement fails as a syntax error, not on the wrong channel). The bench's own statements
live with the bench, in ``pgqueue/_bench/sql/``.

The probe shape. Autovacuum analyzes ``pgqueue.jobs`` whenever it likes, and the
statistics it leaves are often wrong about the rows a hot statement touches (a batch
claimed since the last ANALYZE is "running" only in the table, not in the statistics).
A statement that joins a batch (``unnest`` of arrays, a picked subquery) to the jobs
table is therefore written so the planner has exactly one reasonable plan, whatever
the estimates say::

    FROM unnest(%(ids)s::bigint[], ...) AS u(id, ...)
    WHERE j.id = ANY (ARRAY[u.id])                                      -- the probe
      AND ((j.id, j.attempt, ...) = (u.id, u.attempt, ...)) IS TRUE     -- the fence

- ``j.id = ANY (ARRAY[u.id])`` can drive a primary-key index scan parameterized by
  ``u`` but is neither hashable nor mergeable, so no hash or merge join (each of which
  reads the whole table) can be built on it;
- the fence, written as one ``IS TRUE`` expression over both sides, is one join filter:
  no restriction on the jobs side alone whose selectivity the planner could
  underestimate (a plain ``worker_id = %s AND state = 'running'`` looked like one row
  to a planner that saw no running jobs, which put a scan of the table on the outer side
  of a nested loop over the batch: 1,000 x 1,600 comparisons per completion);
- what is left, scanning the table and filtering every row against the whole batch,
  costs table size x batch size, which the planner never prefers to batch-size probes.

tests/db/test_plans.py pins the plan of every hot statement under five sets of
statistics (empty, backlog, all running, 1M finished, the batch itself).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Final, LiteralString, cast

from .._settings import CONTROL_CHANNEL, NOTIFY_CHANNEL

CONSTANTS: Final = {
    "/*NOTIFY_CHANNEL*/": f"'{NOTIFY_CHANNEL}'",
    "/*CONTROL_CHANNEL*/": f"'{CONTROL_CHANNEL}'",
}
"""Load-time replacements: library constants (never input) spelled once, in _settings."""


def loader(package: str) -> Callable[[str], LiteralString]:
    """A cached ``query(name)`` over the ``.sql`` files of ``package`` (a layer's own folder).

    The library's statements live here; a layer with SQL of its own (the bench, in
    ``pgqueue/_bench/sql/``) makes its loader with this function.
    """

    @cache
    def load(name: str) -> LiteralString:
        text = resources.files(package).joinpath(f"{name}.sql").read_text(encoding="utf-8")
        for token, literal in CONSTANTS.items():
            text = text.replace(token, literal)
        # Files shipped inside the package are trusted constants, never user input.
        return cast(LiteralString, text)  # type: ignore[redundant-cast]

    load.__doc__ = f"The SQL text of ``<name>.sql`` in {package}; FileNotFoundError for an unknown name."
    return load


query = loader(__name__)


def names(package: str = __name__) -> list[str]:
    """All query names shipped in ``package`` (this folder by default)."""
    return sorted(
        p.name[: -len(".sql")] for p in resources.files(package).iterdir() if p.name.endswith(".sql")
    )
