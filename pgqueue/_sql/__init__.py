"""Every SQL statement pgqueue runs lives in a ``.sql`` file in this folder.

``query("claim")`` returns the text of ``claim.sql``. Files are read once and
cached. Library code never formats SQL; values travel as parameters and the few
identifiers that vary go through :mod:`psycopg.sql`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import LiteralString, cast


@cache
def query(name: str) -> LiteralString:
    """The SQL text of ``<name>.sql``; raises FileNotFoundError for an unknown name."""
    text = resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    # Files shipped inside the package are trusted constants, never user input.
    return cast(LiteralString, text)  # type: ignore[redundant-cast]


def names() -> list[str]:
    """All query names shipped in this folder."""
    return sorted(
        p.name[: -len(".sql")]
        for p in resources.files(__package__).iterdir()
        if p.name.endswith(".sql")
    )
