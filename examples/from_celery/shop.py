"""The calling code, exactly as the Celery application has it (only the canvas import
changes: ``from celery import chain, chord`` becomes ``from pgqueue import chain, chord``)."""

from __future__ import annotations

from typing import Any

from pgqueue import chain, chord

from .tasks import (
    charge,
    record_failure,
    region_total,
    send_coupon,
    send_receipt,
    ship,
    summary,
    sync_inventory,
)


def place_order(order_id: int, amount: int, skus: list[str]) -> dict[str, Any]:
    """Charge then ship (recording a failure), e-mail a receipt now, a coupon only if it
    can go out within a second of its 5 s countdown (it cannot: it expires), and sync stock."""
    receipt = send_receipt.delay(order_id)
    coupon = send_coupon.apply_async((order_id,), countdown=5, expires=1)
    synced = [sync_inventory.apply_async(args=(sku,)) for sku in skus]
    fulfilment = chain(charge.s(order_id, amount), ship.s()).on_error(record_failure.s()).apply_async()
    return {"receipt": receipt, "coupon": coupon, "synced": synced, "fulfilment": fulfilment}


def monthly_report(regions: list[str]) -> Any:
    """One job per region, then the summary; a failed region means no summary, recorded."""
    body = summary.s().on_error(record_failure.s())
    return chord([region_total.s(region) for region in regions])(body)
