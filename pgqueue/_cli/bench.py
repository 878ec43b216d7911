"""``pgqueue bench``: run the built-in benchmark and print its table."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from . import common, output


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        ctx: typer.Context,
        dsn: str | None = typer.Option(
            None, "--dsn", help="Server to benchmark on (default: the resolved DSN's server)."
        ),
        json_out: str | None = typer.Option(None, "--json-out", help="Also write the results as JSON here."),
        quick: bool = typer.Option(
            False, "--quick", help="Small sizes: a smoke run of every scenario (~2 min)."
        ),
        scenarios: str | None = typer.Option(
            None, "--scenario", "-s", help="Comma-separated scenarios to run (default: all)."
        ),
        long_delay: float = typer.Option(
            0.0,
            "--long-delay",
            help="Seconds: scheduled-lateness also measures jobs delayed this long "
            "(one a second for a minute; the run waits for them).",
        ),
        in_place: bool = typer.Option(
            False,
            "--in-place",
            help="Use the DSN's database itself (migrated, no jobs) instead of a scratch one.",
        ),
    ) -> None:
        """Benchmark enqueue, drain, latency and more on a scratch database (created and dropped).

        Prints one table row per measurement: jobs/s, latency percentiles, commits, WAL
        bytes and statements per job, the goal and whether it was met.
        """
        from .. import _bench
        from .._bench.db import Scratch
        from .._logging import configure_logging

        configure_logging("WARNING", "text")
        scenario = tuple(s.strip() for s in (scenarios or "").split(",") if s.strip())
        unknown = [s for s in scenario if s not in _bench.SCENARIOS]
        if unknown:
            common.fail(f"unknown scenario {unknown[0]!r}; choose from {', '.join(_bench.SCENARIOS)}", 2)
        if not math.isfinite(long_delay) or long_delay < 0:
            common.fail(f"--long-delay must be a number of seconds >= 0, got {long_delay!r}", 2)
        server = dsn or common.state(ctx).resolve()
        profile = _bench.QUICK if quick else _bench.FULL
        started = time.monotonic()
        if in_place:
            _check_empty(server)
            results = _bench.run(
                server, profile, scenario, output.markup_console(), long_delay=long_delay or None
            )
        else:
            with Scratch(server) as scratch_dsn:
                results = _bench.run(
                    scratch_dsn, profile, scenario, output.markup_console(), long_delay=long_delay or None
                )
        elapsed = time.monotonic() - started
        title = f"pgqueue bench ({'quick' if quick else 'full'}), {elapsed:.0f}s"
        _bench.print_table(results, title, output.console)
        if json_out is not None:
            _bench.write_json(
                Path(json_out), results, {"profile": "quick" if quick else "full", "seconds": round(elapsed)}
            )
            output.line(f"results written to {json_out}")


def _check_empty(dsn: str) -> None:
    from .. import _db
    from .._bench.sql import query

    with _db.connect(dsn) as conn:
        row = conn.execute(query("bench_any_job")).fetchone()
    if row and row[0]:
        common.fail("--in-place needs a database whose pgqueue.jobs is empty (the bench truncates it)", 2)
