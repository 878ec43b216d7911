"""examples/from_celery end to end: the Celery-style shop against a real worker process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import pgqueue
from tests.conftest import RUN_ID, create_database, drop_database
from tests.example.conftest import ROOT, STARTUP_S, child_env, stop_group
from tests.helpers import wait_for


@pytest.fixture(scope="module")
def shop(pg_server: str, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example's app pointed at a fresh database, with one worker serving its queues."""
    from examples.from_celery.app import app

    name = f"pgq_celery_{RUN_ID}"
    dsn = create_database(pg_server, name, template=template_db)
    logs: Path = tmp_path_factory.mktemp("from_celery")
    out = open(logs / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "pgqueue.cli", "work", "--app", "examples.from_celery.tasks:app",
         "-q", "default,emails,low", "--concurrency", "4"],
        cwd=ROOT, env=child_env(dsn), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    app._dsn, app._resolved_dsn = dsn, None
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM pgqueue.workers").fetchone() == (1,),
                     timeout=STARTUP_S, interval=0.1)
        yield dsn
        assert worker.poll() is None, (logs / "worker.log").read_text()
    finally:
        app.close()
        stop_group(worker)
        out.close()
        drop_database(pg_server, name)


def test_an_order_runs_its_chain_calls_expiry_and_retry_defaults(shop: str) -> None:
    from examples.from_celery import shop as orders

    placed = orders.place_order(1, 100, ["sku-1", "sku-2"])
    assert placed["fulfilment"].get(timeout=60) == "order 1 shipped"
    receipt = placed["receipt"]
    assert receipt.get(timeout=60) == "receipt for order 1"
    assert receipt.refresh().row.queue == "emails"  # routed by task name

    # the app-wide retry defaults: 3 attempts, 0.2 s apart; the first was turned away
    for job in placed["synced"]:
        assert job.get(timeout=60).endswith("synced")
        row = job.refresh().row
        assert (row.attempt, row.max_attempts) == (2, 3)
        assert [e["type"] for e in row.errors] == ["ConnectionError"]

    # the coupon could not go out within its expiry: dropped at claim, never run
    coupon = placed["coupon"]
    wait_for(lambda: coupon.ready(), timeout=60, interval=0.1)
    assert coupon.failed() and coupon.row.state == pgqueue.JobState.CANCELLED
    assert coupon.row.result is None and coupon.row.started_at is None
    assert coupon.row.errors[-1]["type"] == "pgqueue.JobExpired"

    # the Celery-style app-wide settings became the tasks' options and the retention
    from examples.from_celery import tasks

    assert tasks.charge.options.timeout == 30
    assert tasks.charge.app.retention.succeeded is not None
    assert tasks.charge.app.retention.succeeded.total_seconds() == 3600


def test_a_failed_charge_runs_the_error_callback_and_cancels_shipping(shop: str) -> None:
    from examples.from_celery import shop as orders

    fulfilment = orders.place_order(2, 0, [])["fulfilment"]
    charged, shipped, errback = fulfilment.jobs
    assert errback.get(timeout=60) == (
        f"job {charged.id} failed: ValueError: cannot charge 0 for order 2"
    )
    with pytest.raises(pgqueue.JobFailed) as failed:
        fulfilment.get(timeout=60)
    assert failed.value.state == "cancelled"
    assert charged.refresh().state == pgqueue.JobState.DEAD
    assert shipped.refresh().state == pgqueue.JobState.CANCELLED


def test_a_chord_with_a_failed_member_records_it_and_a_good_one_sums(shop: str) -> None:
    from examples.from_celery import shop as orders

    good = orders.monthly_report(["north", "south"])
    assert good.get(timeout=60) == {"regions": 2, "total": 200}
    assert {j.refresh().row.queue for j in good.jobs[:2]} == {"low"}

    bad = orders.monthly_report(["north", "atlantis"])
    north, atlantis, body, errback = bad.jobs
    recorded = errback.get(timeout=60)
    assert recorded == f"job {body.id} failed: dependency {atlantis.id} ended dead"
    assert atlantis.refresh().row.last_error == "LookupError: no sales data for region atlantis"
    assert north.refresh().state == pgqueue.JobState.SUCCEEDED
    assert body.refresh().state == pgqueue.JobState.CANCELLED
