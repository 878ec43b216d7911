"""Log output of the pgqueue daemons (``pgqueue work``, ``pgqueue dashboard``).

The library itself only logs to the ``pgqueue`` logger and configures nothing; the
commands call :func:`configure_logging` once at start. Two formats:

- ``text``: ``<time> <LEVEL> <logger> [<pid>] <message> job_id=12 task=... queue=...``
- ``json``: one JSON object per line, for log shippers (Loki, Elasticsearch, Cloud
  Logging): ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``, ``message``, every
  structured extra the record carries (``job_id``, ``task``, ``queue``, ``attempt``,
  ``worker_id``, ...) and ``exc`` (the traceback) when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from .errors import ConfigurationError

FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
EXTRA_KEYS: Final = ("job_id", "task", "queue", "attempt", "worker_id", "schedule")
"""The structured extras the text format appends as key=value, in this order."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__
) | {"message", "asctime", "taskName"}


class TextFormatter(logging.Formatter):
    """The standard line plus ``key=value`` for the structured extras a record carries."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={getattr(record, k)}" for k in EXTRA_KEYS if hasattr(record, k)]
        return f"{line} {' '.join(extras)}" if extras else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; values JSON cannot hold become strings."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for ``fmt`` (``text`` or ``json``); raises ConfigurationError."""
    if fmt == "text":
        return TextFormatter()
    if fmt == "json":
        return JsonFormatter()
    raise ConfigurationError(f"log format {fmt!r} is not known; use one of {', '.join(FORMATS)}")


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    loggers: Sequence[str] = ("pgqueue",),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send ``loggers`` (default: ``pgqueue``) to ``stream`` (default stderr) in ``fmt``.

    Replaces handlers this function installed before, leaves other handlers alone, and
    stops propagation to the root logger so no line is printed twice. Returns the
    handler. Raises ConfigurationError for an unknown level or format.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigurationError(
            f"log level {level!r} is not known; use DEBUG, INFO, WARNING or ERROR"
        )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    handler.set_name("pgqueue-configured")
    for name in loggers:
        logger = logging.getLogger(name)
        logger.handlers[:] = [
            h for h in logger.handlers if h.get_name() != "pgqueue-configured"
        ] + [handler]
        logger.setLevel(numeric)
        logger.propagate = False
    return handler
