"""``manage.py pgqueue COMMAND ...``: any pgqueue command on the project's database
(``jobs ls``, ``stats``, ``queues pause emails``, ``doctor`` ...)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ._forward import forward


class Command(BaseCommand):
    help = "Any pgqueue command (jobs, queues, stats, doctor ...) on the project's database."

    def run_from_argv(self, argv: list[str]) -> None:
        forward("manage.py pgqueue", argv[2:])
