"""``pgqueue bench``: the built-in benchmark.

Scenarios (see docs/benchmarks.md): enqueue-bulk, enqueue-single, drain, ceiling, history,
retries, latency, scheduled-lateness, held-xmin, idle. Each records jobs/s and, where it applies, latency
percentiles, plus counters that do not depend on the hardware: commits per job, WAL bytes
per job, statements per job (when ``pg_stat_statements`` is loaded; else n/a). Workers
are real ``pgqueue work`` processes serving :mod:`pgqueue._bench.tasks`.
"""

from __future__ import annotations

from .report import Result, print_table, write_json
from .runner import FULL, QUICK, SCENARIOS, Profile, run

__all__ = ["FULL", "QUICK", "SCENARIOS", "Profile", "Result", "print_table", "run", "write_json"]
