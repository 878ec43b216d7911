"""The ``/metrics`` endpoint: what it exposes (one process's registry, or every process's
files under ``pgqueue work --processes``) and the HTTP server that serves it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._metrics_collectors import ProcessTreeCollector, QueueCollector
from ._settings import install_hint
from .errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("pgqueue.metrics")


def require() -> None:
    """Raise ConfigurationError (with the install command) without prometheus-client."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"metrics need prometheus-client; install it with: {install_hint('metrics')}"
        ) from None


def exposition_registry(
    queues: QueueCollector | None, own: CollectorRegistry | None, path: str | None
) -> CollectorRegistry:
    """What ``/metrics`` shows: this process's job metrics (``own``), or with a
    multiprocess directory ``path`` every process's (read from its files), plus the
    queue gauges."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if path is None:
        registry = own if own is not None else CollectorRegistry()
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        registry.register(ProcessTreeCollector(path))
    if queues is not None:
        registry.register(queues)
    return registry


class Server:
    """A running ``/metrics`` HTTP endpoint (a daemon thread); :meth:`close` stops it."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str) -> None:
        from prometheus_client import start_http_server

        try:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}); choose another --metrics-port"
            ) from None
        self.port: int = self._httpd.server_port
        self.host = host

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def serve_multiprocess(dsn: str, port: int, host: str, path: str) -> tuple[Server, QueueCollector]:
    """For the supervisor: one endpoint over its children's files in ``path`` plus the
    queue gauges read with ``dsn``. Raises ConfigurationError (no prometheus-client,
    port taken)."""
    require()
    queues = QueueCollector(lambda: dsn)
    server = Server(exposition_registry(queues, None, path), port, host)
    log.info("metrics of all worker processes on http://%s:%s/metrics", host, server.port)
    return server, queues


def mark_process_dead(pid: int, path: str) -> None:
    """Drop a dead child's live gauges (running jobs, worker info) from ``path``."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
