"""Alert rules, dashboards and the metric names they use, checked without a running service."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MONITORING = REPO_ROOT / "k8s" / "monitoring"
ZIPBOB_RULES = MONITORING / "rules" / "zipbob.rules.yml"
THIRD_PARTY_RULES = MONITORING / "third-party" / "rabbitmq.rules.yml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
STANDARD_METRICS = {"up"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def metric_names_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label names, functions and keywords removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in PROMQL_WORDS:
            continue
        names.add(name)
    return names


def family_of(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def dashboard_expressions() -> dict[str, list[str]]:
    return {
        path.stem: [
            target["expr"] for panel in json.loads(path.read_text())["panels"]
            for target in panel.get("targets", [])
        ]
        for path in DASHBOARDS
    }  # fmt: skip


def rule_expressions(path: Path) -> list[str]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def used_metric_names() -> set[str]:
    """Every metric a dashboard or a ZipBob alert reads, recording rules excluded."""
    expressions = rule_expressions(ZIPBOB_RULES)
    expressions += [e for exprs in dashboard_expressions().values() for e in exprs]
    # RabbitMQ's own series (rabbitmq_*) come from its exporter, not from a ZipBob service.
    names = {n for e in expressions for n in metric_names_in(e) if ":" not in n}
    return {n for n in names if not n.startswith("rabbitmq_")}


def documented_metric_names() -> set[str]:
    architecture = (REPO_ROOT / "docs" / "architecture.md").read_text()
    section = architecture.split("## Metrics names", 1)[1].split("\n## ", 1)[0]
    return {re.match(r"\w+", token).group(0) for token in re.findall(r"`([a-z_]+[^`]*)`", section)}


def test_metric_name_parser_sees_through_promql():
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{service="gateway",status=~"5.."}[$__rate_interval]))) / on (service) up'
    )
    assert metric_names_in(expr) == {"http_request_duration_seconds_bucket", "up"}


@pytest.mark.parametrize("rules", [ZIPBOB_RULES, THIRD_PARTY_RULES], ids=lambda p: p.name)
def test_promtool_accepts_the_rules(rules):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("rules", "custom_resource"),
    [
        (ZIPBOB_RULES, MONITORING / "prometheusrule.yaml"),
        (THIRD_PARTY_RULES, MONITORING / "third-party" / "prometheusrule.yaml"),
    ],
    ids=["zipbob", "rabbitmq"],
)
def test_prometheus_rule_resources_match_the_rule_files(rules, custom_resource):
    resource = yaml.safe_load(custom_resource.read_text())
    assert resource["spec"] == yaml.safe_load(rules.read_text()), (
        f"{custom_resource.name} drifted from {rules.name}: copy the groups over"
    )


def test_alerts_cover_what_operators_need():
    alerts = {
        rule["alert"]: rule
        for path in (ZIPBOB_RULES, THIRD_PARTY_RULES)
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for needed in (
        "ZipBobErrorBudgetFastBurn", "ZipBobLatencyBudgetFastBurn", "ZipBobOutboxLagHigh",
        "ZipBobDeadLetters", "ZipBobDeadLetterQueueNotEmpty", "ZipBobResizerFailureRatioHigh",
        "ZipBobEventsDeadLettered",
    ):  # fmt: skip
        assert needed in alerts
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert {"summary", "description"} <= set(rule["annotations"]), name


def test_dashboards_cover_every_service_the_platform_and_the_pipeline():
    assert {p.stem for p in DASHBOARDS} == {
        "zipbob-overview", "zipbob-image-pipeline", "zipbob-gateway",
        "zipbob-catalog", "zipbob-review", "zipbob-resizer",
    }  # fmt: skip
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        panel_ids = [panel["id"] for panel in board["panels"]]
        assert len(set(panel_ids)) == len(panel_ids), path.name
        assert all(panel.get("targets") for panel in board["panels"]), path.name


def test_dashboards_ship_to_kubernetes_and_compose():
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    shipped = {f for gen in kustomization["configMapGenerator"] for f in gen["files"]}
    assert shipped == {f"dashboards/{p.name}" for p in DASHBOARDS}
    assert kustomization["generatorOptions"]["labels"] == {"grafana_dashboard": "1"}
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    grafana_volumes = compose["services"]["grafana"]["volumes"]
    assert any(v.startswith("./k8s/monitoring/dashboards:") for v in grafana_volumes)


def test_dashboards_and_alerts_use_only_documented_metrics():
    documented = documented_metric_names() | STANDARD_METRICS
    unknown = {n for n in used_metric_names() if family_of(n) not in documented}
    assert not unknown, f"not in docs/architecture.md 'Metrics names': {sorted(unknown)}"


def test_recording_rules_used_by_alerts_are_defined():
    groups = yaml.safe_load(ZIPBOB_RULES.read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    used = {n for e in rule_expressions(ZIPBOB_RULES) for n in metric_names_in(e) if ":" in n}
    assert used <= recorded
