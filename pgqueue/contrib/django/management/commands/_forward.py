"""Management commands hand their arguments to pgqueue's own command line."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

WORKER_APP = "pgqueue.contrib.django.worker:app"


def forward(prog: str, args: list[str]) -> NoReturn:
    """Run ``pgqueue ARGS`` in this process with the project's DSN (``PGQUEUE_DSN``, so a
    password never shows in the process list; an explicit ``--dsn`` still wins)."""
    from pgqueue import cli

    from ... import get_app

    os.environ["PGQUEUE_DSN"] = get_app().dsn
    sys.argv = [prog, *args]
    cli.main()
    sys.exit(0)
