"""Limits and cancellation tests: real `pgqueue work` processes (fixtures shared with
tests/worker) running tests.limits.limits_app."""

from __future__ import annotations

from tests.worker.conftest import exec_log, workers

__all__ = ["exec_log", "workers"]

APP = "tests.limits.limits_app:app"
