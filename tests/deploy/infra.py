"""Real infrastructure for the deployment tests: pgbouncer, throw-away PostgreSQL clusters
(primary + streaming replica), worker processes in their own process groups.

Everything listens on free ports and lives in a directory the caller provides (readable by
the ``postgres`` user when running as root: the ``service_dir`` fixture); the shared server
on 127.0.0.1:5432 is only ever used as a backend, never stopped or reconfigured.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.deploy.deploy_app:app"
T = TypeVar("T")
PG_BIN = Path(os.environ.get("PGQUEUE_PG_BIN", "/usr/lib/postgresql/15/bin"))

DEPLOY_LOG = """
CREATE TABLE IF NOT EXISTS deploy_log (
    id      bigserial PRIMARY KEY,
    job_id  bigint NOT NULL,
    attempt int NOT NULL,
    host    text NOT NULL,
    pid     int NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


def need(binary: str, package: str) -> str:
    """Path of ``binary``; skips the test when it is missing (fails in CI, which installs it)."""
    path = shutil.which(binary) or next(
        (str(p) for p in (Path("/usr/sbin") / binary, PG_BIN / binary) if p.exists()), None
    )
    if path is None:
        message = f"{binary} is not installed (Debian package {package}; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _service_user() -> tuple[list[str], int | None, int | None]:
    """pgbouncer and postgres refuse to run as root: run them as ``postgres`` then."""
    if os.geteuid() != 0:
        return [], None, None
    entry = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], entry.pw_uid, entry.pw_gid


def _hand_over(path: Path) -> None:
    _, uid, gid = _service_user()
    if uid is not None and gid is not None:
        for p in [path, *path.rglob("*")]:
            os.chown(p, uid, gid)


def wait_port(host: str, port: int, timeout: float = 30.0) -> None:
    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    wait_for(accepts, timeout=timeout, interval=0.05)


# --- pgbouncer ---------------------------------------------------------------------------------


class PgBouncer:
    """One pgbouncer process built from deploy/pgbouncer/pgbouncer.ini (pool_mode and limits
    as shipped); only the addresses, the auth file (trust) and the databases are the test's."""

    def __init__(self, workdir: Path, listen_addr: str = "127.0.0.1", port: int | None = None) -> None:
        self.binary = need("pgbouncer", "pgbouncer")
        self.dir = workdir
        self.listen_addr = listen_addr
        self.port = port or free_port(listen_addr)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, databases: dict[str, str]) -> PgBouncer:
        """``databases``: pgbouncer name -> connection string (may add ``pool_mode=session``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        shipped = (ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini").read_text()
        settings = shipped.split("[pgbouncer]", 1)[1]
        overrides = {
            "listen_addr": self.listen_addr,
            "listen_port": str(self.port),
            "auth_type": "trust",
            "auth_file": str(self.dir / "userlist.txt"),
            "admin_users": "postgres",
            "stats_users": "postgres",
            "logfile": str(self.dir / "pgbouncer.log"),
        }
        lines = []
        for line in settings.splitlines():
            key = line.split("=", 1)[0].strip()
            lines.append(f"{key} = {overrides.pop(key)}" if key in overrides and "=" in line else line)
        lines += [f"{k} = {v}" for k, v in overrides.items()]
        dbs = "\n".join(f"{name} = {conn}" for name, conn in databases.items())
        ini = f"[databases]\n{dbs}\n\n[pgbouncer]" + "\n".join(lines) + "\n"
        (self.dir / "pgbouncer.ini").write_text(ini)
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        _hand_over(self.dir)
        prefix, _, _ = _service_user()
        self.proc = subprocess.Popen(
            [*prefix, self.binary, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port(self.listen_addr, self.port)
        return self

    def dsn(self, dbname: str) -> str:
        return f"postgresql://postgres@{self.listen_addr}:{self.port}/{dbname}"

    def show(self, what: str) -> list[dict[str, str]]:
        """A SHOW command on the admin console (simple protocol only, hence psql)."""
        out = subprocess.run(
            [need("psql", "postgresql-client"), "-X", "-A", "-F", "\t", "-P", "footer=off", "-h",
             self.listen_addr, "-p", str(self.port), "-U", "postgres", "pgbouncer", "-c", f"SHOW {what}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.splitlines()
        header = out[0].split("\t")
        return [dict(zip(header, row.split("\t"), strict=False)) for row in out[1:]]

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # SIGINT: pgbouncer's safe shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


# --- throw-away PostgreSQL clusters ------------------------------------------------------------


class Cluster:
    """A PostgreSQL cluster of its own in ``datadir`` on a free port (Debian's PG binaries)."""

    def __init__(self, datadir: Path, port: int | None = None) -> None:
        self.bin = PG_BIN
        if not (self.bin / "initdb").exists():
            need("initdb", "postgresql-15")
        self.datadir = datadir
        self.sockdir = datadir.parent / "sockets"
        self.port = port or free_port()

    def _run(self, *argv: str, timeout: float = 120) -> None:
        prefix, _, _ = _service_user()
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}\n{self.log()}")

    def _prepare_dirs(self) -> None:
        # The parent holds the server logs and the socket directory: the service user's.
        self.sockdir.mkdir(parents=True, exist_ok=True)
        _, uid, gid = _service_user()
        if uid is not None and gid is not None:
            os.chown(self.datadir.parent, uid, gid)
            os.chown(self.sockdir, uid, gid)

    def initdb(self) -> Cluster:
        self.datadir.mkdir(parents=True)
        self._prepare_dirs()
        _hand_over(self.datadir)
        self.datadir.chmod(0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        self.configure(
            wal_level="replica",
            max_wal_senders="5",
            hot_standby="on",
            fsync="off",  # test clusters: a crash of the OS is not part of any scenario
            full_page_writes="off",
            shared_buffers="32MB",
            max_connections="100",
            wal_keep_size="128MB",
        )
        return self

    def configure(self, **settings: str) -> None:
        with (self.datadir / "postgresql.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")

    def basebackup_to(self, datadir: Path, name: str) -> Cluster:
        """A streaming replica of this cluster, configured (not started); ``name`` is its
        application_name in pg_stat_replication."""
        replica = Cluster(datadir)
        replica._prepare_dirs()
        datadir.mkdir(parents=True)
        _hand_over(datadir)
        datadir.chmod(0o700)
        self._run(str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-D", str(datadir), "-R", "-X", "stream", "--no-sync", "-c", "fast")
        replica.configure(cluster_name=name)
        return replica

    def start(self) -> Cluster:
        opts = f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w",
                  "-t", "60", "-o", opts, "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop")

    def promote(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", "promote")

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=5)


# --- worker processes --------------------------------------------------------------------------


class WorkerGroup:
    """``pgqueue work`` processes, each in its own process group (a "host"); all are
    stopped at teardown: SIGTERM to the group, SIGKILL whatever is left."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []

    def start(
        self,
        dsn: str,
        *args: str,
        name: str | None = None,
        hostname: str | None = None,
        netns: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one ``pgqueue work`` for ``tests.deploy.deploy_app:app`` with PGQUEUE_DSN=dsn.

        ``hostname``: run it in a UTS namespace of its own with that host name (root
        only; otherwise the host name is shared and only the DSN and process group differ).
        ``netns``: run it inside that network namespace (see :class:`SimulatedHosts`).
        """
        name = name or f"worker-{len(self.procs)}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        log = open(self.logdir / f"{name}.log", "wb")  # the child keeps its own copy of the fd
        full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGQUEUE_LISTEN_DSN")}
        full_env.update(PGQUEUE_DSN=dsn, PYTHONPATH=str(ROOT), DEPLOY_TEST_HOST=hostname or name)
        full_env.update(env or {})
        argv = [sys.executable, "-m", "pgqueue.cli", "work", "--app", APP, *args]
        if hostname and os.geteuid() == 0 and shutil.which("unshare"):
            argv = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        self.names.append(name)
        return proc

    def log(self, name: str) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{self.log(n)[-4000:]}" for n in self.names)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self, timeout: float = 30.0) -> list[int | None]:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        return [p.returncode for p in self.procs]


def wait_until(predicate: Callable[[], T], timeout: float, explain: Callable[[], str]) -> T:
    """wait_for, with ``explain()`` (worker logs, states) in the failure message."""
    try:
        return wait_for(predicate, timeout=timeout, interval=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{explain()}") from None


class SimulatedHosts:
    """Separate "hosts" on this machine.

    As root with iproute2, each host is a network namespace joined to this one by a veth
    pair on a /30 of its own: a process inside reaches only the host-side address of its
    pair (where the test puts that host's pgbouncer), not 127.0.0.1:5432. Elsewhere each
    host gets a loopback address of its own (127.0.0.2, 127.0.0.3, ...) and no isolation.
    """

    def __init__(self) -> None:
        self.isolated = os.geteuid() == 0 and shutil.which("ip") is not None and self._probe()
        self._tag = os.urandom(2).hex()
        self._subnet = self._free_subnet() if self.isolated else ""
        self.namespaces: list[str] = []

    @staticmethod
    def _probe() -> bool:
        name = f"pgq-probe-{os.getpid()}"
        made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
        if made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        return made

    @staticmethod
    def _free_subnet() -> str:
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        for _ in range(100):
            candidate = f"10.213.{int.from_bytes(os.urandom(1), 'big')}."
            if candidate not in used:
                return candidate
        raise RuntimeError("no free 10.213.x.0/24 subnet for the simulated hosts")

    def add(self, n: int) -> tuple[str, str, str | None]:
        """Host ``n``: (address its pgbouncer listens on, the address the host's processes
        connect from, its network namespace or None)."""
        if not self.isolated:
            address = f"127.0.0.{n + 2}"
            return address, address, None
        outer, inner = f"{self._subnet}{4 * n + 1}", f"{self._subnet}{4 * n + 2}"
        ns = f"pgq-{self._tag}-{n}"
        veth_out, veth_in = f"pq{self._tag}{n}o", f"pq{self._tag}{n}i"
        for argv in (
            ["ip", "netns", "add", ns],
            ["ip", "link", "add", veth_out, "type", "veth", "peer", "name", veth_in],
            ["ip", "link", "set", veth_in, "netns", ns],
            ["ip", "addr", "add", f"{outer}/30", "dev", veth_out],
            ["ip", "link", "set", veth_out, "up"],
            ["ip", "-n", ns, "addr", "add", f"{inner}/30", "dev", veth_in],
            ["ip", "-n", ns, "link", "set", veth_in, "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
        ):
            if argv[:3] == ["ip", "netns", "add"]:
                self.namespaces.append(ns)
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        return outer, inner, ns

    def can_reach(self, ns: str | None, host: str, port: int) -> bool:
        """Whether a process in ``ns`` can open a TCP connection to host:port."""
        probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=2)"
        argv = [sys.executable, "-c", probe]
        if ns:
            argv = ["ip", "netns", "exec", ns, *argv]
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0

    def close(self) -> None:
        # Deleting a namespace deletes the veth pair with it.
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.namespaces.clear()


def enqueue_records(dsn: str, count: int, sleep: float = 0.0, queue: str = "default") -> list[int]:
    """``count`` deploy.record jobs in one statement; their ids."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO pgqueue.jobs (queue, task, args) "
            "SELECT %s, 'deploy.record', jsonb_build_array(g, %s::float8) FROM generate_series(1, %s) AS g "
            "RETURNING id",
            (queue, sleep, count),
        ).fetchall()
    return [r[0] for r in rows]


def states(dsn: str, ids: Sequence[int]) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM pgqueue.jobs WHERE id = ANY(%s) GROUP BY state", (list(ids),)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def runs_per_job(dsn: str) -> dict[int, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT job_id, count(*) FROM deploy_log GROUP BY job_id").fetchall()
    return {r[0]: r[1] for r in rows}
