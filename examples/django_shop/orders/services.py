"""Placing an order: the order row and its confirmation job commit together, or neither."""

from __future__ import annotations

from django.db import connection, transaction

from .models import Order
from .tasks import send_confirmation


def place_order(email: str, *, fail_after_enqueue: bool = False) -> Order:
    with transaction.atomic():
        order: Order = Order.objects.create(email=email)
        send_confirmation.configure(conn=connection).enqueue(order.pk)
        if fail_after_enqueue:  # e.g. payment refused: the order and its job both vanish
            raise RuntimeError(f"payment refused for {email}")
    return order
