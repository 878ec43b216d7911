"""Chaos 12: least privilege, authenticated writes, no leaked secrets.

The worker runs as a role that has exactly the grants docs/reliability.md lists (no
superuser, no ownership); the dashboard refuses unauthenticated writes when auth is on;
a password in the DSN never shows in worker logs, error messages or ``pgqueue doctor``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

import pgqueue
from pgqueue._admin.prune import run_retention
from pgqueue._maintenance.rescuer import Rescuer
from tests.chaos.support import ROOT, Workers, assert_sound, enqueue_work, report, states, wait_terminal
from tests.helpers import wait_for

pytestmark = pytest.mark.chaos

# The grants of docs/reliability.md ("Running the worker with least privilege"), verbatim.
WORKER_GRANTS = """
GRANT CONNECT ON DATABASE {db} TO {role};
GRANT USAGE ON SCHEMA pgqueue TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgqueue TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgqueue TO {role};
"""
SECRET = "s3cr3t-Pa55"


@pytest.fixture
def worker_role(chaos_dsn: str) -> Iterator[tuple[str, str]]:
    """(role name, a DSN that logs in as it); the role is dropped at the end (roles are
    cluster-wide: the name is unique to this test)."""
    role = f"pgq_worker_{uuid.uuid4().hex[:10]}"
    info = psycopg.conninfo.conninfo_to_dict(chaos_dsn)
    db = str(info["dbname"])
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(SECRET)))
        for statement in WORKER_GRANTS.strip().splitlines():
            c.execute(sql.SQL(statement).format(db=sql.Identifier(db), role=sql.Identifier(role)))
        # The test tasks' own log tables are the application's, granted like any app table.
        grant = sql.SQL("GRANT SELECT, INSERT, UPDATE ON exec_log, kills TO {}")
        c.execute(grant.format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT USAGE ON SEQUENCE exec_log_id_seq TO {}").format(sql.Identifier(role)))
    info["user"] = role
    info["password"] = SECRET
    yield role, psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_worker_runs_with_only_the_documented_grants(
    chaos_dsn: str, worker_role: tuple[str, str], workers: Workers
) -> None:
    role, role_dsn = worker_role
    with psycopg.connect(role_dsn, autocommit=True) as c:
        row = c.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (role, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("CREATE TABLE pgqueue.not_yours (x int)")
    total = 60
    enqueue_work(chaos_dsn, total, 0.0)
    app = pgqueue.App(dsn=role_dsn)  # the producer side works with the same grants
    job = app.enqueue("c.work", args=(0.0,))
    workers.start(role_dsn, "--concurrency", "4", "--lease", "2", "--heartbeat-interval", "0.5",
                  "--rescue-interval", "0.5")
    wait_terminal(chaos_dsn, total + 1, 120, workers.logs)
    assert job.result(timeout=10) == job.id
    assert states(chaos_dsn) == {"succeeded": total + 1}
    assert_sound(report(chaos_dsn), total=total + 1)
    # The maintenance duties every worker may be elected for run with the same grants.
    with psycopg.connect(role_dsn, autocommit=True) as c:
        Rescuer().run_once(c)
        run_retention(c)
    log = workers.log(0)
    assert "permission denied" not in log and "InsufficientPrivilege" not in log, log
    assert SECRET not in log
    assert workers.stop() == [0], workers.logs()
    app.close()


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PGQUEUE_"))}
    return subprocess.run(
        [sys.executable, "-m", "pgqueue.cli", "--dsn", dsn, *args],
        cwd=ROOT, env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120,
    )


@pytest.mark.needs_tcp
def test_secrets_in_dsns_never_reach_logs_or_doctor(worker_role: tuple[str, str], workers: Workers) -> None:
    _, role_dsn = worker_role
    doctor = _cli("doctor", dsn=role_dsn)
    doctor_json = _cli("doctor", "--json", dsn=role_dsn)
    health = _cli("health", dsn=role_dsn)
    # Unreachable: the error names the server, never the password.
    info = psycopg.conninfo.conninfo_to_dict(role_dsn)
    info["port"] = "1"
    dead_dsn = psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    unreachable = _cli("doctor", dsn=dead_dsn)
    url_form = f"postgresql://{info['user']}:{SECRET}@127.0.0.1:1/{info['dbname']}"
    unreachable_url = _cli("health", dsn=url_form)
    for done in (doctor, doctor_json, health, unreachable, unreachable_url):
        assert SECRET not in done.stdout + done.stderr, done.args
    assert unreachable.returncode != 0 and unreachable_url.returncode != 0
    # A worker given the password in a URL: its log (start-up, a killed LISTEN connection,
    # the reconnect) never shows it.
    real = psycopg.conninfo.conninfo_to_dict(role_dsn)
    real_url = f"postgresql://{real['user']}:{SECRET}@{real['host']}:{real['port']}/{real['dbname']}"
    workers.start(real_url, "--concurrency", "1")
    wait_for(lambda: "started" in workers.log(0), timeout=60)
    with psycopg.connect(role_dsn, autocommit=True) as c:
        listeners = wait_for(lambda: c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'pgqueue-listener'").fetchall(), timeout=30)
        c.execute("SELECT pg_terminate_backend(%s)", (listeners[0][0],))
    wait_for(lambda: "listener reconnected" in workers.log(0), timeout=30)
    assert SECRET not in workers.log(0), workers.log(0)
    assert workers.stop() == [0], workers.logs()


def test_dashboard_refuses_unauthenticated_writes(chaos_dsn: str) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from pgqueue.dashboard import basic_auth, create_app

    pq = pgqueue.App(dsn=chaos_dsn)
    job = pq.enqueue("c.work", args=(0.0,))
    with TestClient(create_app(pq, auth=basic_auth("admin", SECRET)), base_url="http://localhost") as client:
        for path in ("/queues/default/pause", f"/jobs/{job.id}/cancel", f"/jobs/{job.id}/retry"):
            refused = client.post(path, data={"csrf_token": "x"})
            assert refused.status_code == 401, path
            assert SECRET not in refused.text
    with psycopg.connect(chaos_dsn, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM pgqueue.queues WHERE paused").fetchone() == (0,)
        assert c.execute("SELECT state FROM pgqueue.jobs WHERE id = %s", (job.id,)).fetchone() == ("queued",)
    pq.close()
