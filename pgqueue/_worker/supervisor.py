"""``--processes P``: one supervisor keeping P worker processes alive.

Children are fresh interpreters (``python -m pgqueue.cli work ...``), not forks, so
no thread or connection state leaks into them. Each runs in its own process group,
so a terminal's Ctrl-C reaches only the supervisor, which forwards it once: the
children see exactly the signals the supervisor received (first: graceful, second:
at once). A child that dies is restarted (with back-off if it keeps dying at
start-up) until the supervisor is asked to stop; it then waits for all children.
Children stop by themselves if the supervisor disappears.

The supervisor names each child's worker id (``PGQUEUE_WORKER_ID``), so when a child
exits it hands that worker's running jobs on at once (handon_worker.sql), rather than
after their leases expire: the process is gone, so none of them can still be executing.
A child that died (a signal, a crash, a non-zero exit) lost its attempts (counted, with a
WorkerLost error, retried by the usual rules); one that exited cleanly after a stop
request had sync attempts its threads could not stop, and they go back refunded.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from types import FrameType

import psycopg
from psycopg.rows import class_row

from .. import _db
from .._sql import query
from .._state import MovedRow

log = logging.getLogger("pgqueue.worker")

POLL_S = 0.2
RESTART_BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0)
QUICK_DEATH_S = 5.0
"""A child that dies sooner than this after starting counts towards the back-off."""
SUPERVISOR_ENV = "PGQUEUE_SUPERVISOR_PID"
WORKER_ID_ENV = "PGQUEUE_WORKER_ID"


class Supervisor:
    """Runs ``argv`` ``processes`` times; :meth:`run` returns the exit code (0 when every
    child exited 0 after a stop request). ``on_child_exit(pid)`` is called for every
    child that exits (e.g. to drop its live metrics). With ``dsn``, the running jobs of a
    child that exits are handed on at once (see the module doc)."""

    def __init__(
        self,
        argv: Sequence[str],
        processes: int,
        env: dict[str, str] | None = None,
        on_child_exit: Callable[[int], None] | None = None,
        dsn: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.dsn = dsn
        self.worker_ids: list[uuid.UUID | None] = [None] * processes
        self.handed_on = 0
        """Jobs handed on from exited children (a test signal)."""
        self.on_child_exit = on_child_exit
        self.processes = processes
        self.env = dict(env if env is not None else os.environ)
        self.env[SUPERVISOR_ENV] = str(os.getpid())
        self.children: list[subprocess.Popen[bytes] | None] = [None] * processes
        self._started_at = [0.0] * processes
        self._quick_deaths = [0] * processes
        self._signals: list[int] = []
        self._wake = threading.Event()

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in range(self.processes):
                self._spawn(slot)
            log.info("supervisor %s started %s worker processes", os.getpid(), self.processes)
            while not self._signals:
                self._wake.wait(POLL_S)
                self._wake.clear()
                if self._signals:
                    break
                self._restart_dead()
            return self._wait_children()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)
        for child in self.children:
            if child is not None and child.poll() is None:
                try:
                    child.send_signal(signum)
                except ProcessLookupError:
                    pass
        self._wake.set()

    def _spawn(self, slot: int) -> None:
        worker_id = uuid.uuid4()
        env = dict(self.env, **{WORKER_ID_ENV: str(worker_id)})
        self.worker_ids[slot] = worker_id
        self.children[slot] = subprocess.Popen(self.argv, env=env, process_group=0)
        self._started_at[slot] = time.monotonic()

    def _hand_on(self, slot: int, child: subprocess.Popen[bytes]) -> None:
        """Hand on the running jobs of the exited child in ``slot`` (never raises)."""
        worker_id = self.worker_ids[slot]
        if self.dsn is None or worker_id is None:
            return
        rc = child.returncode
        lost = not (self._signals and rc == 0)
        how = f"signal {signal.Signals(-rc).name}" if rc is not None and rc < 0 else f"exit code {rc}"
        try:
            with _db.connect(self.dsn, application_name="pgqueue-supervisor") as conn:
                cur = conn.cursor(row_factory=class_row(MovedRow))
                rows = cur.execute(
                    query("handon_worker"),
                    {"worker": worker_id, "lost": lost, "pid": child.pid, "how": how},
                ).fetchall()
        except (psycopg.Error, OSError) as exc:
            log.warning(
                "could not hand on the jobs of worker process %s (%s); the rescue will", child.pid, exc
            )
            return
        self.handed_on += len(rows)
        for row in rows:
            log.warning(
                "job %s of exited worker process %s handed on -> %s",
                row.id,
                child.pid,
                row.state,
                extra={"job_id": row.id, "task": row.task, "queue": row.queue, "attempt": row.attempt},
            )

    def _restart_dead(self) -> None:
        for slot, child in enumerate(self.children):
            if child is None or child.poll() is None:
                continue
            self._exited(child.pid)
            self._hand_on(slot, child)
            lived = time.monotonic() - self._started_at[slot]
            self._quick_deaths[slot] = self._quick_deaths[slot] + 1 if lived < QUICK_DEATH_S else 0
            delay = RESTART_BACKOFF_S[min(self._quick_deaths[slot], len(RESTART_BACKOFF_S) - 1)]
            log.warning(
                "worker process %s exited with %s; restarting in %ss", child.pid, child.returncode, delay
            )
            if delay and self._interruptible_sleep(delay):
                return
            self._spawn(slot)

    def _interruptible_sleep(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._signals:
                return True
            self._wake.wait(min(POLL_S, deadline - time.monotonic()))
        return bool(self._signals)

    def _wait_children(self) -> int:
        code = 0
        for slot, child in enumerate(self.children):
            if child is None:
                continue
            while True:
                try:
                    rc = child.wait()
                    break
                except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                    continue
            self._exited(child.pid)
            self._hand_on(slot, child)
            # A child still starting when the stop signal came (before its handlers were in
            # place: a slow import, a restart just begun) dies of that signal with nothing
            # claimed: a clean stop, not a failure.
            if rc != 0 and not (rc < 0 and -rc in self._signals):
                code = 1
        return code

    def _exited(self, pid: int) -> None:
        if self.on_child_exit is not None:
            try:
                self.on_child_exit(pid)
            except Exception:
                log.exception("on_child_exit failed for worker process %s", pid)


def parent_pid_from_env() -> int | None:
    """The supervisor's pid when this process is one of its children."""
    value = os.environ.get(SUPERVISOR_ENV)
    return int(value) if value and value.isdigit() else None


def worker_id_from_env() -> uuid.UUID | None:
    """The worker id the supervisor chose for this child process, if any."""
    value = os.environ.get(WORKER_ID_ENV)
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
