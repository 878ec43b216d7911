"""Daemon log output: the text line with extras, and one JSON object per line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pgqueue._logging import configure_logging
from pgqueue.errors import ConfigurationError


@pytest.fixture
def restore_pgqueue_logger() -> object:
    logger = logging.getLogger("pgqueue")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


def test_json_lines_carry_the_structured_extras(restore_pgqueue_logger: object) -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    log = logging.getLogger("pgqueue.worker")
    log.info("job %s dead", 12, extra={"job_id": 12, "task": "app.send", "queue": "emails", "attempt": 3})
    log.debug("not shown at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("task failed", extra={"job_id": 13, "when": object()})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "job 12 dead" and first["level"] == "INFO"
    assert first["logger"] == "pgqueue.worker" and first["ts"].endswith("+00:00")
    assert {k: first[k] for k in ("job_id", "task", "queue", "attempt")} == {
        "job_id": 12, "task": "app.send", "queue": "emails", "attempt": 3,
    }
    assert "ValueError: boom" in second["exc"] and second["job_id"] == 13
    assert isinstance(second["when"], str)  # not JSON-serialisable -> its str()


def test_text_lines_append_extras_and_reconfiguring_does_not_duplicate(
    restore_pgqueue_logger: object,
) -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", stream=out)
    configure_logging("INFO", "text", stream=out)
    logging.getLogger("pgqueue").warning("retry", extra={"job_id": 5, "queue": "q"})
    [line] = out.getvalue().splitlines()
    assert " WARNING pgqueue " in line and line.endswith("retry job_id=5 queue=q")


def test_unknown_level_or_format_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="log format 'xml'"):
        configure_logging("INFO", "xml")
    with pytest.raises(ConfigurationError, match="log level 'LOUD'"):
        configure_logging("LOUD", "json")
