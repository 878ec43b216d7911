"""`pgqueue doctor`: verdicts, fixes and exit codes on real trouble."""

from __future__ import annotations

from typing import Any

import psycopg

from pgqueue import _migrate

from .support import cli, cli_json, seed


def _checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in data["checks"]}


def test_doctor_healthy_database_exits_zero(dsn: str) -> None:
    data = cli_json(dsn, "doctor")
    assert data["healthy"] is True
    names = set(_checks(data))
    assert {"schema", "xmin_horizon", "notify_queue", "vacuum", "index_bloat",
            "stuck_leases", "workers", "queues", "dead_letter"} <= names  # fmt: skip
    human = cli(dsn, "doctor")
    assert human.returncode == 0 and "schema" in human.stdout


def test_doctor_flags_a_held_open_transaction_and_a_paused_backlog(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    seed(conn, queue="emails", count=5)
    conn.execute("INSERT INTO pgqueue.queues (name, paused) VALUES ('emails', true)")
    with psycopg.connect(dsn, application_name="report-job") as holder:
        holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT count(*) FROM pgqueue.jobs")  # takes the snapshot
        pid = holder.info.backend_pid
        from tests.helpers import wait_for

        wait_for(
            lambda: conn.execute(
                "SELECT now() - xact_start > interval '1.5 seconds' FROM pg_stat_activity WHERE pid = %s",
                (pid,),
            ).fetchone()[0],  # type: ignore[index]
            timeout=30,
        )
        data = cli_json(dsn, "doctor", "--long-transaction", "1s", code=1)
        human = cli(dsn, "doctor", "--long-transaction", "1s")
    checks = _checks(data)
    assert data["healthy"] is False
    assert checks["xmin_horizon"]["status"] == "fail"
    assert "report-job" in checks["xmin_horizon"]["detail"]
    assert "pg_terminate_backend" in checks["xmin_horizon"]["fix"]
    assert checks["queue:emails"]["status"] == "warn"
    assert "paused with 5 jobs" in checks["queue:emails"]["detail"]
    assert checks["queue:emails"]["fix"] == "pgqueue queues resume emails"
    assert human.returncode == 1 and "pgqueue queues resume emails" in human.stdout


def test_doctor_flags_stuck_leases_stale_workers_and_dead_letter_growth(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    (job,) = seed(conn, state="running")
    conn.execute(
        "UPDATE pgqueue.jobs SET lease_expires_at = now() - interval '5 minutes' WHERE id = %s",
        (job,),
    )
    conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "expires_at) VALUES (gen_random_uuid(), 'gone-host', 7, '{default}', 1, '0', "
        "now() - interval '10 minutes')"
    )
    seed(conn, state="dead", finished_ago="5 minutes", count=20)
    checks = _checks(cli_json(dsn, "doctor", code=1))
    assert checks["stuck_leases"]["status"] == "fail" and checks["stuck_leases"]["data"]["count"] == 1
    assert checks["workers"]["status"] == "warn" and "gone-host:7" in checks["workers"]["detail"]
    assert checks["dead_letter"]["status"] == "warn"
    assert checks["dead_letter"]["data"]["last_hour"] == 20


def test_doctor_flags_an_old_schema_and_hides_the_password(dsn: str) -> None:
    _migrate.upgrade(dsn, "0001")
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["password"] = "s3cret-pw"  # trust auth ignores it; doctor must not print it
    with_password = psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    result = cli(with_password, "doctor", "--json")
    assert result.returncode == 1, result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    import json

    checks = _checks(json.loads(result.stdout))
    assert checks["schema"]["status"] == "fail" and checks["schema"]["fix"].startswith(
        "run `pgqueue migrate`"
    )
