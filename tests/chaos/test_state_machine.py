"""Chaos 10: a Hypothesis state machine drives the real SQL (enqueue, claim, heartbeat,
complete, fail, lease expiry, rescue, cancel, prune) against a real database, with two
simulated workers that may keep stale beliefs about the jobs they hold.

After every step: only transitions of ``pgqueue.job.TRANSITIONS`` happened, ``attempt <=
max_attempts``, ``finished_at`` is set exactly on terminal jobs, a running job has a worker
and a lease, at most one worker's belief matches a job's live lease, a write from a stale
holder was never applied, and only finished jobs ever disappear (prune).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, ClassVar

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import pgqueue
from pgqueue._admin.jobs import cancel_jobs
from pgqueue._admin.prune import prune_on
from pgqueue._maintenance.rescuer import Rescuer
from pgqueue._worker import claims
from pgqueue._worker.completer import write_batch
from pgqueue._worker.heartbeat import Heartbeat
from pgqueue._worker.outcome import decide, succeeded
from pgqueue.job import TERMINAL, TRANSITIONS, JobState
from tests.chaos.support import pick

pytestmark = pytest.mark.chaos

Row = tuple[str, int, int, Any, Any, Any]  # state, attempt, max_attempts, worker_id, lease, finished_at
LEASE_S = 60.0


class QueueMachine(RuleBasedStateMachine):
    dsn: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.conn = psycopg.connect(self.dsn, autocommit=True)
        self.conn.execute("TRUNCATE pgqueue.jobs, pgqueue.workers RESTART IDENTITY CASCADE")
        self.app = pgqueue.App(dsn=self.dsn)
        self.workers = [uuid.uuid4(), uuid.uuid4()]
        self.beats = [Heartbeat(w, ["default"], 4, LEASE_S) for w in self.workers]
        # What each worker believes it holds: job id -> attempt (may be stale).
        self.held: list[dict[int, int]] = [{}, {}]
        self.rows: dict[int, Row] = {}
        self.enqueued = 0

    def teardown(self) -> None:
        self.app.close()
        self.conn.close()

    # --- helpers ------------------------------------------------------------------------
    def read(self) -> dict[int, Row]:
        return {
            r[0]: tuple(r[1:])  # type: ignore[misc]
            for r in self.conn.execute(
                "SELECT id, state, attempt, max_attempts, worker_id, lease_expires_at, finished_at "
                "FROM pgqueue.jobs"
            ).fetchall()
        }

    def live_holder(self, job_id: int, w: int, attempt: int) -> bool:
        row = self.read().get(job_id)
        return row is not None and row[0] == "running" and row[3] == self.workers[w] and row[1] == attempt

    # --- rules --------------------------------------------------------------------------
    @rule(max_attempts=st.integers(1, 3))
    def enqueue(self, max_attempts: int) -> None:
        self.app.enqueue("sm.task", max_attempts=max_attempts)
        self.enqueued += 1

    @rule(w=st.integers(0, 1), limit=st.integers(1, 3))
    def claim(self, w: int, limit: int) -> None:
        for job in claims.claim(self.conn, self.workers[w], ["default"], limit, LEASE_S):
            assert job.state == JobState.RUNNING
            self.held[w][job.id] = job.attempt

    @rule(w=st.integers(0, 1))
    def heartbeat(self, w: int) -> None:
        before = self.read()
        extended = self.beats[w].beat(self.conn, list(self.held[w]))
        for job_id in extended:  # only the current holder's lease is ever extended
            row = before[job_id]
            assert row[0] == "running" and row[3] == self.workers[w]

    @precondition(lambda self: any(self.held))
    @rule(data=st.data(), outcome=st.sampled_from(["success", "fail"]))
    def complete(self, data: st.DataObject, outcome: str) -> None:
        w = data.draw(st.sampled_from([i for i in (0, 1) if self.held[i]]))
        job_id = data.draw(st.sampled_from(sorted(self.held[w])))
        attempt = self.held[w].pop(job_id)
        was_live = self.live_holder(job_id, w, attempt)
        max_attempts = self.read().get(job_id, ("", 0, 1))[2]
        if outcome == "success":
            o = succeeded(job_id, attempt, '{"ok": true}')
        else:
            o = decide(RuntimeError("boom"), None, job_id, attempt, max_attempts)
        applied = write_batch(self.conn, self.workers[w], [o])
        # The fence: a write is applied exactly when its writer still held the lease.
        assert (job_id in applied) == was_live

    @rule(w=st.integers(0, 1))
    def lose_worker(self, w: int) -> None:
        """Time passes without this worker's heartbeat: its leases expire (its beliefs stay)."""
        self.conn.execute(
            "UPDATE pgqueue.jobs SET lease_expires_at = now() - interval '1 second' "
            "WHERE worker_id = %s AND state = 'running'",
            (self.workers[w],),
        )

    @rule()
    def backoff_elapses(self) -> None:
        """Time passes: retries waiting for their back-off become due."""
        self.conn.execute("UPDATE pgqueue.jobs SET run_at = now() WHERE state = 'queued' AND run_at > now()")

    @rule()
    def rescue(self) -> None:
        Rescuer().run_once(self.conn)

    @precondition(lambda self: self.enqueued > 0)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.integers(1, self.enqueued))
        cancel_jobs(self.app, [job_id])

    @rule()
    def prune(self) -> None:
        prune_on(self.conn, dict.fromkeys(("succeeded", "dead", "cancelled"), timedelta(0)))

    # --- invariants ---------------------------------------------------------------------
    @invariant()
    def only_allowed_transitions(self) -> None:
        now = self.read()
        for job_id, old in self.rows.items():
            new = now.get(job_id)
            if new is None:
                assert JobState(old[0]) in TERMINAL, f"job {job_id} vanished while {old[0]}"
                continue
            a, b = JobState(old[0]), JobState(new[0])
            if a != b:
                assert b in TRANSITIONS[a], f"job {job_id}: {a} -> {b}"
            assert new[1] >= old[1], f"job {job_id}: attempt went back"  # no hand-backs here
        self.rows = now

    @invariant()
    def row_rules(self) -> None:
        for job_id, (state, attempt, max_attempts, worker, lease, finished) in self.read().items():
            assert attempt <= max_attempts, job_id
            assert (finished is not None) == (JobState(state) in TERMINAL), job_id
            if state == "running":
                assert worker is not None and lease is not None, job_id

    @invariant()
    def at_most_one_live_lease(self) -> None:
        rows = self.read()
        for job_id, row in rows.items():
            if row[0] != "running":
                continue
            holders = [w for w in (0, 1) if self.held[w].get(job_id) == row[1] and row[3] == self.workers[w]]
            believers = [w for w in (0, 1) if self.held[w].get(job_id) == row[1]]
            assert len(holders) <= 1 and len(believers) <= 1, (job_id, row, self.held)


def test_state_machine_over_the_real_sql(dsn: str) -> None:
    QueueMachine.dsn = dsn
    run_state_machine_as_test(
        QueueMachine,
        settings=settings(
            max_examples=pick(25, 150),
            stateful_step_count=pick(25, 50),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
