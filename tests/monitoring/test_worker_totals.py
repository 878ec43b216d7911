"""A worker's running totals become Prometheus counters (pgqueue._metrics.Sampler)."""

from __future__ import annotations

import pytest

from pgqueue._worker.events import ROW_COUNTS, WorkerStats

prometheus_client = pytest.importorskip("prometheus_client")


class _Worker:
    def __init__(self) -> None:
        self.stats = WorkerStats()
        self.app = None


def test_hand_backs_and_rescues_are_counters_that_add_up_by_difference() -> None:
    from pgqueue._metrics import Sampler

    registry = prometheus_client.CollectorRegistry()
    sampler = Sampler(registry, interval=0)
    worker = _Worker()
    sampler.track_worker(worker)
    worker.stats.unknown_handed_back = 3
    worker.stats.rescued = 2
    sampler.sample()
    worker.stats.unknown_handed_back = 5
    sampler.sample()
    assert registry.get_sample_value("pgqueue_jobs_unknown_handed_back_total") == 5
    assert registry.get_sample_value("pgqueue_jobs_rescued_total") == 2
    assert registry.get_sample_value("pgqueue_jobs_handed_back_total") == 0
    # What the worker's row keeps for `pgqueue stats` (heartbeat.sql).
    assert worker.stats.row_counts() == {"handed_back": 0, "unknown_handed_back": 5, "rescued": 2}
    assert set(ROW_COUNTS) <= set(WorkerStats().snapshot())
