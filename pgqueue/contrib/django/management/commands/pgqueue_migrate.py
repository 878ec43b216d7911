"""``manage.py pgqueue_migrate [--to REV] [--sql]``: pgqueue's schema, on Django's database."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ._forward import forward


class Command(BaseCommand):
    help = (
        "Create or upgrade pgqueue's schema (its own Alembic history and version table, "
        "pgqueue.alembic_version) in the project's database; options of `pgqueue migrate`."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        forward("manage.py pgqueue_migrate", ["migrate", *argv[2:]])
