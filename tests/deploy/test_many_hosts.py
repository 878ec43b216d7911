"""Many hosts, simulated on one machine: each "host" is a worker process group with a host
name of its own (a UTS namespace when running as root) that reaches PostgreSQL only through
its own pgbouncer on its own loopback address (127.0.0.2, 127.0.0.3, ...): transaction
pooling for the work, a session-pooled alias for LISTEN. Every job runs exactly once and
every host takes a share of the load."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.deploy.infra import PgBouncer, WorkerGroup, enqueue_records, states, wait_until


@dataclass(frozen=True)
class Profile:
    hosts: int
    jobs: int
    processes: int
    sleep: float


SHORT = Profile(hosts=2, jobs=200, processes=1, sleep=0.01)
FULL = Profile(hosts=3, jobs=3000, processes=2, sleep=0.005)


@pytest.fixture
def bouncers(service_dir: Path, dsn: str) -> Iterator[list[PgBouncer]]:
    started: list[PgBouncer] = []
    yield started
    for b in started:
        b.stop()


def start_host(
    n: int, dsn: str, service_dir: Path, bouncers: list[PgBouncer], group: WorkerGroup, profile: Profile
) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    backend = f"host={info.get('host', '127.0.0.1')} port={info.get('port', 5432)} dbname={info['dbname']}"
    name = f"host-{chr(ord('a') + n)}"
    bouncer = PgBouncer(service_dir / name, listen_addr=f"127.0.0.{n + 2}")
    bouncer.start({"app": backend, "app_listen": f"{backend} pool_mode=session"})
    bouncers.append(bouncer)
    group.start(
        bouncer.dsn("app"),
        "--listen-dsn", bouncer.dsn("app_listen"),
        "--concurrency", "4",
        "--processes", str(profile.processes),
        "--poll-interval", "2",
        name=name,
        hostname=name,
    )
    return name


@pytest.mark.parametrize(
    "profile", [SHORT, pytest.param(FULL, marks=pytest.mark.slow)], ids=["short", "full"]
)
def test_workers_on_many_hosts_run_each_job_once_and_share_the_load(
    deploy_log: psycopg.Connection,
    dsn: str,
    service_dir: Path,
    bouncers: list[PgBouncer],
    worker_group: WorkerGroup,
    profile: Profile,
) -> None:
    hosts = [start_host(n, dsn, service_dir, bouncers, worker_group, profile) for n in range(profile.hosts)]
    expected_processes = profile.hosts * profile.processes

    def registered() -> list[tuple[str, int]]:
        return deploy_log.execute("SELECT hostname, pid FROM pgqueue.workers WHERE NOT stopping").fetchall()

    wait_until(lambda: len(registered()) >= expected_processes, 60, worker_group.logs)
    if os.geteuid() == 0:
        assert {h for h, _ in registered()} == set(hosts)  # one UTS namespace per host

    ids = enqueue_records(dsn, profile.jobs, sleep=profile.sleep)
    wait_until(
        lambda: states(dsn, ids) == {"succeeded": profile.jobs},
        180,
        lambda: f"{states(dsn, ids)}\n{worker_group.logs()}",
    )

    rows = deploy_log.execute("SELECT job_id, attempt, host, pid FROM deploy_log").fetchall()
    per_job = Counter(r[0] for r in rows)
    assert sorted(per_job) == sorted(ids)
    assert set(per_job.values()) == {1}, "a job ran twice"
    attempts = deploy_log.execute(
        "SELECT DISTINCT attempt FROM pgqueue.jobs WHERE id = ANY(%s)", (ids,)
    ).fetchall()
    assert attempts == [(1,)]

    per_host = Counter(r[2] for r in rows)
    per_process = Counter(r[3] for r in rows)
    fair = profile.jobs / profile.hosts
    for host in hosts:
        assert per_host[host] >= 0.25 * fair, f"load did not spread: {dict(per_host)}"
    assert len(per_process) == expected_processes, dict(per_process)
    for bouncer in bouncers:  # each host's traffic went through its own pooler
        stats = {r["database"]: int(r["total_xact_count"]) for r in bouncer.show("STATS")}
        assert stats.get("app", 0) > 0
    print(f"\njobs per host: {dict(per_host)}; per process: {sorted(per_process.values())}")
    assert worker_group.stop() == [0] * profile.hosts, worker_group.logs()
