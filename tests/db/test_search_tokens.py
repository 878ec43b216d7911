"""Argument search keys (migration 0012): ``pgqueue.search_tokens`` makes one of 65,536
integer keys per scalar value, so the GIN index over finished jobs' arguments stays
bounded under retention, where 0011's ``jsonb_ops`` index over the values themselves
grew by every distinct value it ever saw."""

from __future__ import annotations

import psycopg

ROUND = 30_000
ROUNDS = 4

FINISH_ROUND = """
INSERT INTO pgqueue.jobs (task, state, attempt, args, kwargs, started_at, finished_at)
SELECT 't.x', 'succeeded', 1,
       jsonb_build_array(%(base)s + g, 'user' || (%(base)s + g) || '@example.com'),
       jsonb_build_object('order_id', %(base)s + g), now(), now()
FROM generate_series(1, %(n)s) AS g
"""


def tokens(conn: psycopg.Connection, doc: str) -> list[int]:
    row = conn.execute("SELECT pgqueue.search_tokens(%s::jsonb)", (doc,)).fetchone()
    assert row is not None
    return sorted(row[0])


def test_tokens_are_bucketed_scalars_with_equal_values_agreeing(conn: psycopg.Connection) -> None:
    assert tokens(conn, "42") == tokens(conn, "42.0") == tokens(conn, '"42"')  # one canonical text
    assert tokens(conn, '[{"a": {"b": [42]}}]') == tokens(conn, "42")  # at any depth
    assert tokens(conn, "[null, {}, []]") == [] and tokens(conn, "{}") == []  # nulls carry no key
    both = tokens(conn, '["x", true, 42]')
    assert len(both) == 3 and all(0 <= t < 65536 for t in both)
    assert set(tokens(conn, '{"k": "x"}')) == set(tokens(conn, '"x"'))  # keys are not values


def index_mb(conn: psycopg.Connection, name: str) -> float:
    row = conn.execute("SELECT pg_relation_size(%s::regclass) / 1048576.0", (f"pgqueue.{name}",)).fetchone()
    assert row is not None
    return float(row[0])


def test_the_argument_index_stays_bounded_under_retention_where_jsonb_ops_grew(
    conn: psycopg.Connection,
) -> None:
    # 0011's index, beside 0012's for comparison, on the same rows.
    conn.execute(
        "CREATE INDEX old_args_idx ON pgqueue.jobs USING gin ((args || kwargs)) WHERE finished_at IS NOT NULL"
    )
    sizes: list[tuple[float, float]] = []
    for r in range(ROUNDS):
        conn.execute(FINISH_ROUND, {"base": r * ROUND, "n": ROUND})  # new, unique values
        conn.execute("DELETE FROM pgqueue.jobs WHERE (args->>0)::bigint <= %s", (r * ROUND,))  # retention
        conn.execute("VACUUM pgqueue.jobs")
        sizes.append((index_mb(conn, "jobs_args_tokens_idx"), index_mb(conn, "old_args_idx")))
    (tokens_first, old_first), (tokens_last, old_last) = sizes[1], sizes[-1]
    # From the second round on the table holds one round of rows: the token index keeps
    # its size, the old one kept growing with every round of new values.
    assert tokens_last <= 1.25 * tokens_first, sizes
    assert old_last >= 1.5 * old_first, sizes
