"""Shared pieces of the chaos suite: profiles, the execution log, worker processes, checks.

Every scenario keeps an execution log in the database under test and proves its claims
with SQL over it and over ``pgqueue.jobs``: no job lost, none left running, none over
``max_attempts``, no two executions of one job overlapping in time, and no job run again
unless the worker that ran it died.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.chaos.chaos_app:app"
FULL = os.environ.get("PGQUEUE_CHAOS") == "full"
T = TypeVar("T")


def pick(short: T, full: T) -> T:
    """The short-profile value in the default run, the full one under ``make test-chaos``."""
    return full if FULL else short


TABLES = """
CREATE TABLE exec_log (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL,
    attempt     int NOT NULL,
    pid         int NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX ON exec_log (job_id);
CREATE TABLE kills (pid int PRIMARY KEY, killed_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE effects (id bigserial PRIMARY KEY, job_id bigint, attempt int, key text);
CREATE TABLE effects_once (job_id bigint PRIMARY KEY, key text);
CREATE TABLE fault_points (pid int, job_ids bigint[], at timestamptz DEFAULT clock_timestamp());
"""


def create_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(TABLES)  # type: ignore[arg-type]


def enqueue_work(dsn: str, count: int, seconds: float, queue: str = "default") -> list[int]:
    """``count`` c.work jobs in one statement (plain SQL, as any producer may)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        rows = c.execute(
            "INSERT INTO pgqueue.jobs (queue, task, args, max_attempts) "
            "SELECT %s, 'c.work', jsonb_build_array(%s::float8), 25 FROM generate_series(1, %s) "
            "RETURNING id",
            (queue, seconds, count),
        ).fetchall()
    return [r[0] for r in rows]


def states(dsn: str) -> dict[str, int]:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as c:
            return dict(c.execute("SELECT state, count(*) FROM pgqueue.jobs GROUP BY state").fetchall())
    except psycopg.OperationalError:
        return {}


def all_terminal(dsn: str, total: int) -> bool:
    s = states(dsn)
    return sum(s.get(k, 0) for k in ("succeeded", "dead", "cancelled")) == total


class Workers:
    """``pgqueue work`` processes in their own sessions, logs under ``logdir``; whatever is
    left is killed at teardown (by pid and process group, never by name)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []
        self.dsns: list[str] = []

    def start(self, dsn: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        name = f"worker-{len(self.procs)}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PGQUEUE_"))}
        full_env.update(PGQUEUE_DSN=dsn, PYTHONPATH=str(ROOT))
        full_env.update(env or {})
        with open(self.logdir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pgqueue.cli", "work", "--app", APP, *args],
                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs.append(proc)
        self.names.append(name)
        self.dsns.append(dsn)
        return proc

    def log(self, n: int = 0) -> str:
        return (self.logdir / f"{self.names[n]}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{self.log(i)[-3000:]}" for i, n in enumerate(self.names))

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self, timeout: float = 60.0) -> list[int | None]:
        """SIGTERM every group, wait, SIGKILL what is left; the exit codes."""
        for p in self.procs:
            if p.poll() is None:
                _signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        return [p.returncode for p in self.procs]

    def cleanup(self) -> None:
        # Supervised children run in process groups of their own: find them by parent pid.
        children = _children_of({p.pid for p in self.procs})
        for p in self.procs:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                _signal_group(p.pid, sig)
        for pid in children:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def _children_of(parents: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid in parents:
            found.append(int(entry.name))
    return found


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def live_worker_pids(dsn: str, exclude: set[int]) -> list[int]:
    """Pids of registered worker processes that are alive and not in ``exclude``."""
    with psycopg.connect(dsn, autocommit=True) as c:
        pids = [r[0] for r in c.execute("SELECT pid FROM pgqueue.workers").fetchall()]
    alive = []
    for pid in pids:
        if pid in exclude:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def sigkill(dsn: str, pid: int) -> None:
    """SIGKILL ``pid`` and note when (server clock) in ``kills``."""
    os.kill(pid, signal.SIGKILL)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("INSERT INTO kills (pid) VALUES (%s) ON CONFLICT DO NOTHING", (pid,))


def kill_random_worker(dsn: str, killed: set[int], rng: random.Random) -> int | None:
    pids = live_worker_pids(dsn, killed)
    if not pids:
        return None
    pid = rng.choice(pids)
    sigkill(dsn, pid)
    killed.add(pid)
    return pid


# --- the checks ----------------------------------------------------------------------------

# A run's end: its finish, else its process's death. The death is noted just before it
# happens (c.poison notes it, then exits), so a run another thread of that process
# started in between ends at its own start, not before it.
RUNS = """
WITH runs AS (
    SELECT e.id, e.job_id, e.attempt, e.pid, e.started_at, e.finished_at,
           CASE WHEN e.finished_at IS NOT NULL THEN e.finished_at
                WHEN k.killed_at IS NOT NULL THEN greatest(k.killed_at, e.started_at)
           END AS ended_at,
           k.pid IS NOT NULL AS killed
    FROM exec_log e LEFT JOIN kills k ON k.pid = e.pid
)
"""


@dataclass
class Report:
    jobs: int
    lost: int  # not terminal: queued, running, waiting
    running: int
    over_attempts: int
    overlaps: int  # two executions of one job at the same time
    repeats_by_live_workers: int  # a job run twice although no worker running it died
    unknown_end: int  # runs whose end the log does not know (their worker was not killed)
    runs: int
    rescue_s: list[float]
    rerun_s: list[float]

    @property
    def rescue_max(self) -> float:
        return max(self.rescue_s, default=0.0)

    @property
    def rescue_median(self) -> float:
        return statistics.median(self.rescue_s) if self.rescue_s else 0.0

    def figures(self) -> dict[str, object]:
        return {
            "jobs": self.jobs,
            "runs": self.runs,
            "lost": self.lost,
            "overlaps": self.overlaps,
            "duplicates": self.repeats_by_live_workers,
            "rescue_median_s": f"{self.rescue_median:.2f}",
            "rescue_max_s": f"{self.rescue_max:.2f}",
            "rerun_max_s": f"{max(self.rerun_s, default=0.0):.2f}",
        }

    def summary(self) -> str:
        return (
            f"jobs={self.jobs} runs={self.runs} lost={self.lost} running={self.running} "
            f"over_attempts={self.over_attempts} overlaps={self.overlaps} "
            f"repeats_by_live_workers={self.repeats_by_live_workers} unknown_end={self.unknown_end} "
            f"rescues={len(self.rescue_s)} rescue_median={self.rescue_median:.2f}s "
            f"rescue_max={self.rescue_max:.2f}s"
        )


def report(dsn: str) -> Report:
    with psycopg.connect(dsn, autocommit=True) as c:

        def one(q: str) -> int:
            row = c.execute(q).fetchone()  # type: ignore[arg-type]
            assert row is not None
            return int(row[0])

        jobs = one("SELECT count(*) FROM pgqueue.jobs")
        lost = one("SELECT count(*) FROM pgqueue.jobs WHERE state NOT IN ('succeeded', 'dead', 'cancelled')")
        running = one("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'")
        over = one("SELECT count(*) FROM pgqueue.jobs WHERE attempt > max_attempts")
        overlaps = one(
            RUNS  # noqa: S608 - constant SQL
            + "SELECT count(*) FROM runs a JOIN runs b ON a.job_id = b.job_id AND a.id < b.id "
            "WHERE a.ended_at IS NOT NULL AND b.ended_at IS NOT NULL "
            "AND tstzrange(a.started_at, a.ended_at) && tstzrange(b.started_at, b.ended_at)"
        )
        # Runs that finished in a worker that was never killed: at most one per job (a run
        # again needs a dead worker, a failed attempt, or a lost completion).
        repeats = one(
            RUNS  # noqa: S608 - constant SQL
            + "SELECT count(*) FROM (SELECT job_id FROM runs WHERE NOT killed "
            "AND finished_at IS NOT NULL GROUP BY job_id HAVING count(*) > 1) AS r"
        )
        unknown = one(RUNS + "SELECT count(*) FROM runs WHERE ended_at IS NULL")  # noqa: S608
        runs = one("SELECT count(*) FROM exec_log")
        # Rescue time: from a kill to the "worker lost" entry the rescuer wrote when it queued
        # the job again; rerun time: from the kill to the job's next run.
        rescue = [
            float(r[0])
            for r in c.execute(
                RUNS  # noqa: S608 - constant SQL
                + "SELECT extract(epoch FROM (e->>'at')::timestamptz - r.ended_at) "
                "FROM runs r JOIN pgqueue.jobs j ON j.id = r.job_id "
                "CROSS JOIN LATERAL jsonb_array_elements(j.errors) AS e "
                "WHERE r.killed AND r.finished_at IS NULL AND e->>'type' = 'pgqueue.WorkerLost' "
                "AND (e->>'attempt')::int = r.attempt"
            ).fetchall()
        ]
        rerun = [
            float(r[0])
            for r in c.execute(
                RUNS  # noqa: S608 - constant SQL
                + "SELECT extract(epoch FROM (SELECT min(n.started_at) FROM runs n "
                "WHERE n.job_id = r.job_id AND n.attempt > r.attempt) - r.ended_at) "
                "FROM runs r WHERE r.killed AND r.finished_at IS NULL"
            ).fetchall()
            if r[0] is not None
        ]
    return Report(jobs, lost, running, over, overlaps, repeats, unknown, runs, rescue, rerun)


def assert_sound(rep: Report, *, total: int, exact_runs: bool = True, known_ends: bool = True) -> None:
    """No job lost, none running, none over its attempts, no overlapping runs; with
    ``exact_runs`` no job ran again without a dead worker; with ``known_ends`` every run's
    end is known (it finished or its worker was killed)."""
    assert rep.jobs == total, rep.summary()
    assert rep.lost == 0 and rep.running == 0, rep.summary()
    assert rep.over_attempts == 0, rep.summary()
    assert rep.overlaps == 0, rep.summary()
    if exact_runs:
        assert rep.repeats_by_live_workers == 0, rep.summary()
    if known_ends:
        assert rep.unknown_end == 0, rep.summary()


def log_lines(text: str) -> int:
    """Log records of the workers: pgqueue's timestamped lines and the worker pool's own
    connection errors (psycopg_pool); continuation lines of multi-line messages and the
    test tasks' own log pool (``chaos-log``) are not the worker's logging."""
    return sum(
        1 for line in text.splitlines() if line[:1].isdigit() or "in 'pgqueue-" in line
    )


def wait_terminal(dsn: str, total: int, timeout: float, explain: object) -> None:
    try:
        wait_for(lambda: all_terminal(dsn, total), timeout=timeout, interval=0.25)
    except AssertionError as exc:
        extra = explain() if callable(explain) else explain
        raise AssertionError(f"{exc}\nstates={states(dsn)}\n{extra}") from None


def figure(name: str, **values: object) -> None:
    """Print one measured figure (shown with ``pytest -s``; docs/reliability.md quotes them)."""
    print(f"\nCHAOS {name}: " + " ".join(f"{k}={v}" for k, v in values.items()))
