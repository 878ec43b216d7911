"""The shop's tasks: found by pgqueue.contrib.django at start-up (each app's tasks.py)."""

from __future__ import annotations

from django.utils import timezone

from pgqueue.contrib.django import get_app

from .models import Order

app = get_app()


@app.task(queue="orders", name="orders.send_confirmation")
def send_confirmation(order_id: int) -> str:
    """Send the confirmation (here: record it) and return the address it went to."""
    order = Order.objects.get(pk=order_id)
    order.confirmed_at = timezone.now()
    order.save(update_fields=["confirmed_at"])
    return str(order.email)
