"""The bounded claim (claim_bounded.sql) and the pace that chooses it (claims.ClaimPace).

Real Postgres: a REPEATABLE READ transaction in one connection pins the xmin horizon (as
a long report or a forgotten session would), claims run in another. The pace is forced
into bounded mode and driven by a fake clock, so no test depends on how long a claim
takes on this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgqueue._sql import query
from pgqueue._worker.claims import Claimer, ClaimPace
from pgqueue.job import JobRow


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def forced(clock: FakeClock) -> ClaimPace:
    """A pace in bounded mode from its first full claim on; a full claim only when the
    fake clock has moved past its interval."""
    return ClaimPace(slow_s=0.0, ratio=0.0, clock=clock)


def bounded_claimer(clock: FakeClock, queues: tuple[str, ...] = ("q",)) -> Claimer:
    return Claimer(uuid.uuid4(), queues, 60.0, pace=forced(clock))


@pytest.fixture
def held(dsn: str) -> Iterator[psycopg.Connection]:
    """An open REPEATABLE READ transaction whose snapshot pins the xmin horizon."""
    with psycopg.connect(dsn) as holder:
        holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        holder.execute("SELECT count(*) FROM pgqueue.workers")
        yield holder
        holder.rollback()


def add(conn: psycopg.Connection, n: int, queue: str = "q", **cols: Any) -> list[int]:
    names = ", ".join(cols)
    values = ", ".join(f"%({c})s" for c in cols)
    extra = f", {names}" if cols else ""
    extra_values = f", {values}" if cols else ""
    rows = conn.execute(
        f"INSERT INTO pgqueue.jobs (queue, task{extra}) "  # noqa: S608 - test-only, fixed names
        f"SELECT %(queue)s, 't'{extra_values} FROM generate_series(1, %(n)s) RETURNING id",
        {"queue": queue, "n": n, **cols},
    ).fetchall()
    return sorted(r[0] for r in rows)


def ids(jobs: list[JobRow]) -> list[int]:
    return [j.id for j in jobs]


def test_pace_is_full_until_full_claims_get_slow() -> None:
    clock = FakeClock()
    pace = ClaimPace(slow_s=0.005, ratio=2.0, share=0.1, clock=clock)
    assert not pace.bounded and pace.full_in() == 0.0
    pace.record_full(0.002)  # a clean claim: every claim stays full
    assert not pace.bounded and pace.full_in() == 0.0
    pace.record_full(0.900)  # one that waited on a lock changes nothing
    assert not pace.bounded
    pace.record_full(0.050)
    pace.record_full(0.050)
    pace.record_full(0.050)  # slow: bounded, the next full one 0.05 / 0.1 s after this
    assert pace.bounded
    assert pace.full_in() == pytest.approx(0.5)
    pace.record_bounded(0.001)
    clock.now += 0.4
    assert pace.full_in() == pytest.approx(0.1)
    clock.now += 0.1
    assert pace.full_in() == pytest.approx(0.0, abs=1e-9)
    # Full and bounded claims cost the same (a busy box, not a dead prefix): back to full.
    # One slow bounded claim (a lock wait) does not count: the quickest of the last few does.
    pace.record_bounded(0.500)
    pace.record_bounded(0.030)
    pace.record_bounded(0.040)
    pace.record_full(0.045)
    assert pace.bounded_s == pytest.approx(0.001)
    assert pace.bounded
    for _ in range(8):
        pace.record_bounded(0.030)
    pace.record_full(0.045)
    assert not pace.bounded and pace.full_in() == 0.0
    # While claims are full the measurement fades, so bounded claims come back on to
    # measure afresh rather than stay off on a stale figure.
    clock.now += 1.0
    assert pace.bounded_s == pytest.approx(0.015)
    assert pace.bounded


def test_bounded_claims_continue_in_order_under_a_held_snapshot(
    conn: psycopg.Connection, held: psycopg.Connection
) -> None:
    clock = FakeClock()
    c = bounded_claimer(clock)
    all_ids = add(conn, 300)
    got: list[int] = []
    for _ in range(3):
        got += ids(c.claim(conn, 100))
    assert got == all_ids  # exact claim order, each job once
    assert (c.pace.full_claims, c.pace.bounded_claims) == (1, 2)
    assert c.bounds["q"] == (0, c.bounds["q"][1], all_ids[200])
    # Drained: the bounded claim comes back empty, and the full claim is not due yet, so
    # the caller is told when to claim again instead of paying for the full claim now.
    assert c.claim(conn, 100) == []
    assert c.pace.full_claims == 1
    assert c.retry_in is not None and c.retry_in > 0


def test_jobs_behind_the_bound_are_claimed_in_order_by_the_next_full_claim(
    conn: psycopg.Connection, held: psycopg.Connection
) -> None:
    clock = FakeClock()
    c = bounded_claimer(clock)
    # One transaction, one run_at: the serial pair first (lowest ids), then 40 plain jobs.
    with conn.transaction():
        k1, k2 = add(conn, 2, serial_key="k")
        plain = add(conn, 40)
    other = Claimer(uuid.uuid4(), ("q",), 60.0)
    assert ids(other.claim(conn, 1)) == [k1]  # k2 now waits for k1
    assert ids(c.claim(conn, 10)) == plain[:10]  # full; k2 held back by its key
    assert ids(c.claim(conn, 10)) == plain[10:20]  # bounded
    assert c.bounds["q"][2] == plain[10]

    # Three jobs become claimable behind the bound.
    conn.execute("UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = %s", (k1,))
    (high,) = add(conn, 1, priority=10)
    row = conn.execute(
        "INSERT INTO pgqueue.jobs (queue, task, run_at) "
        "VALUES ('q', 't', now() - interval '1 day') RETURNING id"
    ).fetchone()
    assert row is not None
    old = row[0]

    # The bounded claim does not see them (that is its documented staleness) ...
    assert ids(c.claim(conn, 5)) == plain[20:25]
    assert c.pace.bounded_claims == 2
    # ... the next full claim takes them first, in claim order.
    clock.now += 3600.0
    assert ids(c.claim(conn, 5)) == [high, old, k2, plain[25], plain[26]]
    assert c.pace.full_claims == 2
    # Nothing twice: the rest, then nothing.
    rest = ids(c.claim(conn, 100))
    assert rest == plain[27:]
    assert c.claim(conn, 100) == []


def test_a_short_bounded_claim_runs_the_full_claim_when_it_is_due(
    conn: psycopg.Connection, held: psycopg.Connection
) -> None:
    clock = FakeClock()
    c = bounded_claimer(clock)
    plain = add(conn, 20)
    assert ids(c.claim(conn, 10)) == plain[:10]
    (high,) = add(conn, 1, priority=10)
    # Not due: the short bounded claim returns what it found and asks to be called back.
    assert ids(c.claim(conn, 15)) == plain[10:]
    assert c.retry_in is not None and c.retry_in > 0
    clock.now += c.retry_in
    # Due: a bounded claim that comes back short is topped up by a full claim at once.
    (late,) = add(conn, 1)
    assert ids(c.claim(conn, 15)) == [high, late]
    assert c.retry_in is None


def test_queues_without_a_bound_are_walked_from_their_head(
    conn: psycopg.Connection, held: psycopg.Connection
) -> None:
    clock = FakeClock()
    c = bounded_claimer(clock, ("a", "b"))
    a = add(conn, 30, queue="a")
    assert ids(c.claim(conn, 10)) == a[:10]  # full; queue b empty, so no bound for it
    b = add(conn, 5, queue="b", priority=5)
    got = c.claim(conn, 10)  # bounded: a from its bound, b from its head
    assert ids(got) == b + a[10:15]
    assert set(c.bounds) == {"a", "b"}


def _index_blocks(plan: Any) -> int:
    """Shared blocks the jobs_claim_idx scans of an EXPLAIN (ANALYZE, BUFFERS) plan read."""
    total = 0
    if plan.get("Index Name") == "jobs_claim_idx":
        total += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    for child in plan.get("Plans", ()):
        total += _index_blocks(child)
    return total


def _explain(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> tuple[Any, int]:
    with conn.transaction(force_rollback=True):
        (doc,) = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query(name), params  # type: ignore[operator]
        ).fetchone()  # type: ignore[misc]
    plan = (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]
    return plan, _index_blocks(plan)


def _nodes(plan: Any) -> Iterator[Any]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_the_bounded_claim_skips_the_claimed_prefix(
    conn: psycopg.Connection, held: psycopg.Connection
) -> None:
    clock = FakeClock()
    c = bounded_claimer(clock)
    add(conn, 20_100)
    conn.execute("ANALYZE pgqueue.jobs")
    for _ in range(100):
        c.claim(conn, 200)  # 20,000 claimed: their index entries stay while the snapshot is held
    bound = c.bounds["q"]
    params = {"queues": ["q"], "limit": 50, "worker": uuid.uuid4(), "lease_s": 60.0, "rate_tasks": []}
    _, full_blocks = _explain(conn, "claim", params)
    bounded_plan, bounded_blocks = _explain(
        conn,
        "claim_bounded",
        dict(params, b_priority=[bound[0]], b_run_at=[bound[1]], b_id=[bound[2]]),
    )
    # Both are ordered index range scans that stop at the LIMIT; the bounded one starts at
    # the bound (a row comparison in its index condition), so it reads a few blocks where
    # the full one reads through every entry claimed since the snapshot.
    scans = [n for n in _nodes(bounded_plan) if n.get("Index Name") == "jobs_claim_idx"]
    assert len(scans) == 2
    assert "ROW(run_at, id) >= ROW(" in scans[0]["Index Cond"]
    assert "priority < " in scans[1]["Index Cond"]
    assert all(n["Node Type"] == "Index Scan" for n in scans)
    assert scans[0]["Actual Rows"] == 50 and scans[1]["Actual Loops"] == 0
    assert bounded_blocks * 10 < full_blocks, (bounded_blocks, full_blocks)


CLAIM_LOOP = """
import json, sys, uuid
import psycopg
from pgqueue._worker.claims import ClaimPace, Claimer

class Clock:
    # Still between jumps, so a full claim is never due there (bounded claims run); every
    # 10th reading jumps an hour ahead, past any full claim's due time: the mix of the two
    # kinds does not depend on how long the claims really take on a loaded machine.
    now, calls = 0.0, 0
    def __call__(self):
        self.calls += 1
        if self.calls % 5 == 0:
            self.now += 3600.0
        return self.now

dsn, limit = sys.argv[1], int(sys.argv[2])
pace = ClaimPace(slow_s=0.0, ratio=0.0, clock=Clock())
c = Claimer(uuid.uuid4(), ("q", "r"), 60.0, pace=pace)
got = []
empty = 0
with psycopg.connect(dsn, autocommit=True) as conn:
    while empty < 3:
        jobs = c.claim(conn, limit)
        got += [(j.id, j.attempt) for j in jobs]
        empty = 0 if jobs else empty + 1
print(json.dumps({"got": got, "full": pace.full_claims, "bounded": pace.bounded_claims}))
"""


def test_concurrent_bounded_claimers_claim_every_job_exactly_once(
    conn: psycopg.Connection, held: psycopg.Connection, dsn: str
) -> None:
    expected = set(add(conn, 1500, queue="q"))
    expected |= set(add(conn, 500, queue="r", priority=3))
    expected |= set(add(conn, 200, queue="q", priority=-2))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_LOOP, dsn, str(limit)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for limit in (7, 13, 50)
    ]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = [job_id for out in outs for job_id, _ in out["got"]]
    assert len(claimed) == len(set(claimed))  # never twice
    assert set(claimed) == expected  # every one
    assert all(attempt == 1 for out in outs for _, attempt in out["got"])
    assert sum(out["bounded"] for out in outs) > 0 and sum(out["full"] for out in outs) > 3
