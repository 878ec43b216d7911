"""Each SQL statement has one home: the library's in pgqueue/_sql, the bench's in pgqueue/_bench/sql.

Every literal name the code loads resolves in the folder its module reads from, so a statement
moved to the wrong folder fails here rather than at the first run of the code path.
"""

from __future__ import annotations

import re
from pathlib import Path

from pgqueue._bench.sql import query as bench_query
from pgqueue._sql import names, query

PACKAGE = Path(__file__).resolve().parents[2] / "pgqueue"
QUERY_CALL = re.compile(r"""\bquery\(\s*["'](\w+)["']""")
BENCH_NAME = re.compile(r"""["'](bench_\w+)["']""")


def test_library_sql_folder_holds_no_bench_statement() -> None:
    library = names()
    assert "claim" in library
    assert [n for n in library if n.startswith("bench_")] == []
    bench = names("pgqueue._bench.sql")
    assert "bench_seed" in bench and all(n.startswith("bench_") for n in bench)


def test_every_loaded_name_resolves_in_its_layers_folder() -> None:
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        in_bench = "_bench" in path.parts or "bench.sql import query" in text
        load = bench_query if in_bench else query
        found = set(QUERY_CALL.findall(text))
        if in_bench:
            # The bench's Probe helpers (one/all/run) take query names too.
            found |= {n for n in BENCH_NAME.findall(text) if not n.startswith("bench_%")}
        for name in sorted(found):
            load(name)  # FileNotFoundError names the missing file
            checked += 1
    assert checked > 100


def test_channel_and_schema_names_in_sql_are_the_settings_ones() -> None:
    """The SQL files name a NOTIFY channel only by its token, which the loader replaces
    with _settings' constant; where they spell the schema name it is _settings' one."""
    from pgqueue._settings import CONTROL_CHANNEL, NOTIFY_CHANNEL, SCHEMA

    loaded: set[str] = set()
    schemas: set[str] = set()
    for folder, load in ((PACKAGE / "_sql", query), (PACKAGE / "_bench" / "sql", bench_query)):
        for path in folder.glob("*.sql"):
            text = path.read_text(encoding="utf-8")
            assert re.findall(r"pg_notify\(\s*'", text) == [], f"{path.name}: a channel spelled out"
            loaded |= set(re.findall(r"pg_notify\(\s*'([^']+)'", load(path.stem)))
            schemas |= set(re.findall(r"(?:nspname|schemaname|table_schema)\s*=\s*'([^']+)'", text))
    assert NOTIFY_CHANNEL in loaded and loaded <= {NOTIFY_CHANNEL, CONTROL_CHANNEL}, loaded
    assert schemas and schemas <= {SCHEMA}, schemas
