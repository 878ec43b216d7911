"""The tasks, exactly as the Celery application has them (only the import of ``app`` is
from this package's app.py, which is the pgqueue one)."""

from __future__ import annotations

from typing import Any

from .app import app

_busy_once: set[str] = set()


@app.task(name="shop.charge")
def charge(order_id: int, amount: int) -> dict[str, int]:
    if amount <= 0:
        raise ValueError(f"cannot charge {amount} for order {order_id}")
    return {"order": order_id, "charged": amount}


@app.task(name="shop.ship")
def ship(charged: dict[str, int]) -> str:
    return f"order {charged['order']} shipped"


@app.task(name="shop.emails.receipt")
def send_receipt(order_id: int) -> str:
    return f"receipt for order {order_id}"


@app.task(name="shop.emails.coupon")
def send_coupon(order_id: int) -> str:
    return f"coupon for order {order_id}"


@app.task(name="shop.inventory.sync")
def sync_inventory(sku: str) -> str:
    # The inventory service turns the first call for each SKU away: the app-wide retry
    # settings (app.py) bring it back 0.2 s later.
    if sku not in _busy_once:
        _busy_once.add(sku)
        raise ConnectionError(f"inventory service busy for {sku}")
    return f"{sku} synced"


@app.task(name="shop.reports.region")
def region_total(region: str) -> int:
    totals = {"north": 120, "south": 80}
    if region not in totals:
        raise LookupError(f"no sales data for region {region}")
    return totals[region]


@app.task(name="shop.reports.summary")
def summary(totals: list[int]) -> dict[str, int]:
    return {"regions": len(totals), "total": sum(totals)}


@app.task(name="shop.audit.failure")
def record_failure(failed: Any, error: Any, *rest: Any) -> str:
    """An error callback that runs on both: Celery passes (request, exc, traceback),
    pgqueue (the failed job's id, its error text)."""
    failed_id = getattr(failed, "id", failed)
    return f"job {failed_id} failed: {error}"
