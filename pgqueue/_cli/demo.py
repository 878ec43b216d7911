"""``pgqueue demo``: zero-config tour on the embedded (or configured) database."""

from __future__ import annotations

import typer

from . import common, output


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        jobs: int = typer.Option(300, "--jobs", min=20, max=100_000, help="About how many jobs."),
        concurrency: int = typer.Option(8, "--concurrency", min=1, help="Execution slots."),
    ) -> None:
        """Start the database if needed, enqueue sample jobs, run a worker, show a summary."""
        from .. import _demo

        code = _demo.run(common.state(ctx).resolve(), jobs=jobs, concurrency=concurrency,
                         console=output.markup_console())
        raise typer.Exit(code)
