"""``manage.py pgqueue_work [pgqueue work options]``: workers for this project's tasks."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ._forward import WORKER_APP, forward


class Command(BaseCommand):
    help = (
        "Run pgqueue workers for this project's tasks (every app's tasks.py); takes the "
        "options of `pgqueue work` (see --help), without --app."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        forward("manage.py pgqueue_work", ["work", "--app", WORKER_APP, *argv[2:]])
