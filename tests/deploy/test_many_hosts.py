"""Many hosts, simulated on one machine. Each "host" is a worker process group with a host
name of its own (a UTS namespace) in a network namespace of its own, joined to this one by
a veth pair, that reaches PostgreSQL only through its own pgbouncer listening on the far
end of that pair: transaction pooling for the work, a session-pooled alias for LISTEN.
Without root (or iproute2) the hosts fall back to loopback addresses of their own
(127.0.0.2, 127.0.0.3, ...). Every job runs exactly once and every host takes a share."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.deploy.infra import (
    PgBouncer,
    SimulatedHosts,
    WorkerGroup,
    enqueue_records,
    states,
    wait_until,
)


@dataclass(frozen=True)
class Profile:
    hosts: int
    jobs: int
    processes: int
    sleep: float


SHORT = Profile(hosts=2, jobs=200, processes=1, sleep=0.01)
FULL = Profile(hosts=3, jobs=3000, processes=2, sleep=0.005)


pytestmark = pytest.mark.needs_tcp


@pytest.fixture
def bouncers() -> Iterator[list[PgBouncer]]:
    started: list[PgBouncer] = []
    yield started
    for b in started:
        b.stop()


@pytest.fixture
def hosts() -> Iterator[SimulatedHosts]:
    simulated = SimulatedHosts()
    yield simulated
    simulated.close()


@dataclass(frozen=True)
class Host:
    name: str
    bouncer: PgBouncer
    client_addr: str
    netns: str | None


def start_host(
    n: int,
    dsn: str,
    service_dir: Path,
    hosts: SimulatedHosts,
    bouncers: list[PgBouncer],
    group: WorkerGroup,
    profile: Profile,
) -> Host:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    backend = f"host={info.get('host', '127.0.0.1')} port={info.get('port', 5432)} dbname={info['dbname']}"
    name = f"host-{chr(ord('a') + n)}"
    listen_addr, client_addr, netns = hosts.add(n)
    bouncer = PgBouncer(service_dir / name, listen_addr=listen_addr)
    bouncers.append(bouncer)
    bouncer.start({"app": backend, "app_listen": f"{backend} pool_mode=session"})
    group.start(
        bouncer.dsn("app"),
        "--listen-dsn", bouncer.dsn("app_listen"),
        "--concurrency", "4",
        "--processes", str(profile.processes),
        "--poll-interval", "2",
        name=name,
        hostname=name,
        netns=netns,
    )
    return Host(name, bouncer, client_addr, netns)


@pytest.mark.parametrize(
    "profile", [SHORT, pytest.param(FULL, marks=pytest.mark.slow)], ids=["short", "full"]
)
def test_workers_on_many_hosts_run_each_job_once_and_share_the_load(
    deploy_log: psycopg.Connection,
    dsn: str,
    service_dir: Path,
    hosts: SimulatedHosts,
    bouncers: list[PgBouncer],
    worker_group: WorkerGroup,
    profile: Profile,
) -> None:
    started = [
        start_host(n, dsn, service_dir, hosts, bouncers, worker_group, profile) for n in range(profile.hosts)
    ]
    names = [h.name for h in started]
    expected_processes = profile.hosts * profile.processes
    if hosts.isolated:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        for h in started:  # a host reaches its own pooler and nothing else
            assert hosts.can_reach(h.netns, h.bouncer.listen_addr, h.bouncer.port)
            backend = (str(info.get("host", "127.0.0.1")), int(info.get("port", 5432)))
            assert not hosts.can_reach(h.netns, *backend)

    def registered() -> list[tuple[str, int]]:
        return deploy_log.execute("SELECT hostname, pid FROM pgqueue.workers WHERE NOT stopping").fetchall()

    wait_until(lambda: len(registered()) >= expected_processes, 60, worker_group.logs)
    if os.geteuid() == 0:
        assert {h for h, _ in registered()} == set(names)  # one UTS namespace per host

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
    for name in names:
        assert per_host[name] >= 0.25 * fair, f"load did not spread: {dict(per_host)}"
    assert len(per_process) == expected_processes, dict(per_process)
    for h in started:  # each host's traffic went through its own pooler, from its own address
        stats = {r["database"]: int(r["total_xact_count"]) for r in h.bouncer.show("STATS")}
        assert stats.get("app", 0) > 0
        clients = [c for c in h.bouncer.show("CLIENTS") if c["database"] in ("app", "app_listen")]
        assert clients and {c["addr"] for c in clients} == {h.client_addr}
    print(f"\njobs per host: {dict(per_host)}; per process: {sorted(per_process.values())}; "
          f"network namespaces: {hosts.isolated}")
    assert worker_group.stop() == [0] * profile.hosts, worker_group.logs()
