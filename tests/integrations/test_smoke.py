"""The minimal-install smoke suite (``smoke.py``) run from the dev venv on every ``make test``.

greenlet is blocked in the child interpreter, as on an install without extras
(SQLAlchemy >= 2.1 no longer depends on it), so a sync SQLAlchemy path that reaches for
``sqlalchemy.ext.asyncio`` fails here too. The same script runs from a wheel in a clean
venv with ``make smoke-install`` (CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SMOKE = Path(__file__).with_name("smoke.py")

RUN_WITHOUT_GREENLET = (
    "import runpy, sys; sys.modules['greenlet'] = None; "
    f"runpy.run_path({str(SMOKE)!r}, run_name='__main__')"
)


def test_smoke_suite_without_greenlet(pg_server: str) -> None:
    env = {**os.environ, "PGQUEUE_TEST_DSN": pg_server}
    env.pop("PGQUEUE_DSN", None)
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_GREENLET], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pgqueue smoke: ok" in result.stdout
