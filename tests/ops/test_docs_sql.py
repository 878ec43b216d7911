"""The SQL examples in docs/operations.md run against a migrated database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _statements() -> list[str]:
    out = []
    for block in SQL_BLOCK.findall(DOC.read_text()):
        body = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
        out += [s.strip() for s in body.split(";") if s.strip()]
    return out


def test_operations_doc_sql_examples_run(conn: psycopg.Connection[Any]) -> None:
    statements = _statements()
    assert len(statements) >= 4
    conn.execute("INSERT INTO pgqueue.jobs (task) VALUES ('docs.example')")
    for statement in statements:
        conn.execute(statement.encode()).fetchall()
