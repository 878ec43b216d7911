"""Real worker processes for the bench: ``python -m pgqueue.cli work`` serving the bench
tasks, started and stopped like an operator would (SIGTERM, graceful)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import TracebackType

from .tasks import APP_SPEC, QUEUE

STOP_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 60.0


class Workers:
    """``processes`` worker processes (one supervisor when more than one), each with
    ``concurrency`` slots; ``extra`` are more ``pgqueue work`` flags."""

    def __init__(
        self, dsn: str, *, processes: int = 1, concurrency: int | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        argv = [sys.executable, "-m", "pgqueue.cli", "work", "--app", APP_SPEC, "--queues", QUEUE]
        argv += ["--processes", str(processes), "--log-level", "ERROR", *extra]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        self.argv = argv
        self.processes = processes
        self.env = dict(os.environ, PGQUEUE_DSN=dsn)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Workers:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL)
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def wait_ready(self, registered: object) -> None:
        """Wait until ``registered()`` (a callable returning the live worker count) reaches
        ``processes``."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if registered() >= self.processes:  # type: ignore[operator]
                return
            self._check_alive()
            time.sleep(0.05)
        raise RuntimeError("bench workers did not start in time")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"bench worker exited with code {self.proc.returncode}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
