"""An unreachable database gets one clear sentence, never a traceback or a password."""

from __future__ import annotations

import json
import socket
import subprocess
import sys


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    dsn = f"postgresql://app:s3cret-pw@127.0.0.1:{_closed_port()}/nothing"
    return subprocess.run([sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
                          capture_output=True, text=True, timeout=60)


def test_work_against_an_unreachable_database_says_so_and_exits_3() -> None:
    result = _run("work", "--app", "tests.worker.tasks_app:app")
    assert result.returncode == 3, result.stderr  # 3: the database cannot be reached (cli.py)
    assert "nothing accepts connections at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_doctor_against_an_unreachable_database_fails_one_check() -> None:
    result = _run("doctor", "--json")
    assert result.returncode == 1, result.stderr
    checks = json.loads(result.stdout)
    checks = checks["checks"] if isinstance(checks, dict) else checks
    assert [c["name"] for c in checks] == ["connection"]
    assert "nothing accepts connections at 127.0.0.1:" in checks[0]["detail"]
    assert "s3cret-pw" not in result.stderr + result.stdout
