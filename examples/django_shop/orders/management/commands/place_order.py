"""``manage.py place_order EMAIL [--fail]``: what a checkout view would do."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...services import place_order


class Command(BaseCommand):
    help = "Place an order (and enqueue its confirmation in the same transaction)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--fail", action="store_true", help="Fail after enqueueing: all rolls back.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            order = place_order(options["email"], fail_after_enqueue=options["fail"])
        except RuntimeError as exc:
            self.stdout.write(f"rolled back: {exc}")
            return
        self.stdout.write(f"order {order.pk} placed")
