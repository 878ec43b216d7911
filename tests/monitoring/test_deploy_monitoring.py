"""deploy/monitoring: the shipped dashboard and alert rules parse, are
well formed, and every metric their PromQL names is one pgqueue really exports (checked
against a real /metrics scrape of a worker that ran jobs). ``promtool`` is not packaged
for this machine, so PromQL is checked structurally: balanced brackets, and every bare
identifier is a PromQL keyword, a function, a label name in a grouping, or a metric of
the scrape."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import pgqueue

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "monitoring" / "pgqueue-dashboard.json"
RULES = ROOT / "deploy" / "monitoring" / "pgqueue-alerts.yml"

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}
FUNCTIONS = {"sum", "max", "min", "avg", "count", "rate", "increase", "irate", "histogram_quantile",
             "clamp_min", "clamp_max", "absent", "topk", "bottomk", "delta", "deriv", "label_values"}
BUILTIN_METRICS = {"up"}
DURATION = re.compile(r"\[[0-9a-z$_:]+\]")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
MATCHERS = re.compile(r"\{[^{}]*\}")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (see module doc); raises AssertionError
    on unbalanced brackets or an identifier that is none of the known kinds."""
    stack = []
    for ch in STRING.sub('""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            assert stack and "([{"[")]}".index(ch)] == stack.pop(), f"unbalanced {ch!r} in {expr!r}"
    assert not stack, f"unclosed {stack} in {expr!r}"
    text = STRING.sub('""', expr)
    text = MATCHERS.sub(" ", text)
    text = DURATION.sub(" ", text)
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\$__\w+|\$\w+", " ", text)
    text = re.sub(r"\blabel_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*\w+\s*\)", r"\1", text)
    text = re.sub(r"\b\d+(\.\d+)?(e-?\d+)?\b", " ", text)
    names = set()
    for m in IDENT.finditer(text):
        word = m.group(0)
        after = text[m.end():].lstrip()
        if word in KEYWORDS:
            continue
        if after.startswith("("):
            assert word in FUNCTIONS, f"unknown function {word!r} in {expr!r}"
            continue
        names.add(word)
    return names


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> Iterator[str]:
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            yield var["definition"]


@pytest.fixture(scope="module")
def exported(pg_server: str, template_db: str) -> set[str]:
    """Sample names of a real scrape: an in-process worker that ran a succeeding, a
    failing and a dead job, with its pools sampled."""
    from tests.conftest import RUN_ID, create_database, drop_database

    name = f"pgq_t_{RUN_ID}_deploy"
    url = create_database(pg_server, name, template=template_db)
    try:
        app = pgqueue.App(dsn=url)

        @app.task(name="d.ok")
        def ok() -> int:
            return 1

        @app.task(name="d.bad", max_attempts=2, backoff_base=0.01, backoff_jitter=0.0)
        def bad() -> None:
            raise ValueError("no")

        try:
            metrics = app.metrics  # before the worker starts, so it records its jobs
            good, doomed = ok.enqueue(), bad.enqueue()
            app.enqueue("d.ok", queue="later", delay=3600)
            worker = pgqueue.Worker(app, concurrency=2)
            worker.start()
            try:
                good.result(timeout=20)
                with pytest.raises(pgqueue.JobFailed):
                    doomed.result(timeout=20)
                metrics.jobs.sampler.sample()
                text = metrics.generate().decode()
            finally:
                worker.stop(timeout=5)
        finally:
            app.metrics.close()
            app.close()
    finally:
        drop_database(pg_server, name)
    # A labelled metric that has seen no value yet (no job was cancelled) still declares its
    # family; its sample names follow from its type.
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
                "info": ("_info",), "summary": ("_sum", "_count", "")}
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples}
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def test_promql_checker_finds_metrics_and_refuses_nonsense() -> None:
    assert metric_names('sum by (queue) (rate(a_total{x="y)"}[5m])) / max(b) > 0.5') == {"a_total", "b"}
    assert metric_names("label_values(m_info, job)") == {"m_info"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__rate_interval])))") == {
        "h_bucket"}
    with pytest.raises(AssertionError):
        metric_names("sum(rate(a[5m])")
    with pytest.raises(AssertionError):
        metric_names("frobnicate(a)")


def test_grafana_dashboard_is_well_formed() -> None:
    data = dashboard()
    assert data["uid"] and data["title"] == "pgqueue" and isinstance(data["schemaVersion"], int)
    variables = {v["name"] for v in data["templating"]["list"]}
    assert {"datasource", "queue", "job"} <= variables
    ids, cells = set(), set()
    for panel in data["panels"]:
        assert panel["id"] not in ids
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert all(isinstance(pos[k], int) for k in ("x", "y", "w", "h"))
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):  # no two panels overlap
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
    titles = " ".join(p["title"].lower() for p in data["panels"])
    for topic in ("depth", "oldest", "throughput", "failure", "run time", "worker", "rescue"):
        assert topic in titles, f"the dashboard has no {topic} panel"


def test_alert_rules_are_well_formed() -> None:
    names = set()
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Pgqueue[A-Za-z]+", rule["alert"]) and rule["alert"] not in names
        names.add(rule["alert"])
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        metric_names(rule["expr"])
    for wanted in ("PgqueueDeadJobsRising", "PgqueueOldestJobTooOld", "PgqueueNoLiveWorkers",
                   "PgqueueRescues", "PgqueueXminHorizonPinned"):
        assert wanted in names


def test_every_metric_used_is_exported(exported: set[str]) -> None:
    used: dict[str, str] = {}
    for expr in [*dashboard_exprs(), *(r["expr"] for r in rules())]:
        for name in metric_names(expr):
            used.setdefault(name, expr)
    missing = {name: expr for name, expr in used.items()
               if name not in exported and name not in BUILTIN_METRICS}
    assert not missing, f"not in a real scrape: {missing}"
    assert len(used) >= 15
