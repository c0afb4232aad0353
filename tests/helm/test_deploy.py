"""deploy/ and the chart's shared files: rules, dashboard, Alertmanager example, image, demo."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helm.helmkit import (
    ALERTED_ONLY,
    DASHBOARD_FILE,
    DEPLOY_DIR,
    METRICS,
    REPO,
    RULES_FILE,
    SERVE_FLAGS,
    compose,
    dashboard_expressions,
    dockerfile_instructions,
    flags_used,
    image_command,
    metric_names,
)  # fmt: skip


def run(*command: str | Path, cwd: Path | None = None) -> str:
    """Run a command; fail the test with its output unless it succeeds."""
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def test_promtool_accepts_the_rules_file():
    assert "SUCCESS: 8 rules found" in run("promtool", "check", "rules", RULES_FILE)


def test_the_rules_fire_as_their_unit_tests_expect():
    tests = Path(__file__).with_name("prometheus-rules-test.yaml")
    assert "SUCCESS" in run("promtool", "test", "rules", tests)


def test_every_rule_has_a_severity_a_summary_and_bridge_metrics_only():
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {
        "CloudAlarmBridgeAlertmanagerDown", "CloudAlarmBridgeBacklogGrowing", "CloudAlarmBridgeBacklogOld",
        "CloudAlarmBridgeCallbacksRejected", "CloudAlarmBridgeStoreNearlyFull", "CloudAlarmBridgeStoreDown",
    }  # fmt: skip
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert metric_names(rule["expr"]) and metric_names(rule["expr"]) <= METRICS | ALERTED_ONLY, rule["alert"]


STORE_GAUGES = {
    "cloud_alarm_bridge_alertmanager_up", "cloud_alarm_bridge_last_success_timestamp_seconds",
    "cloud_alarm_bridge_backlog_alerts", "cloud_alarm_bridge_backlog_oldest_age_seconds",
    "cloud_alarm_bridge_alerts", "cloud_alarm_bridge_store_alerts", "cloud_alarm_bridge_store_capacity_alerts",
}  # fmt: skip
"""Read from the shared store, so every replica reports the same value: never summed over pods."""


def test_store_gauges_are_taken_once_however_many_replicas_report_them():
    rules = [r for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]
    for expression in [*dashboard_expressions(), *(r["expr"] for r in rules)]:
        for gauge in metric_names(expression) & STORE_GAUGES:
            # The aggregation around each use of the gauge (through one function such as deriv).
            uses = re.findall(rf"(\w+)(?: (?:by|without) \([^)]*\))? \((?:\w+\()?{gauge}\b", expression)
            assert uses and set(uses) == {"max"}, (gauge, expression)


def test_every_rule_links_its_runbook_section():
    runbook = (REPO / "docs" / "runbook.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^## (.+)$", runbook, flags=re.MULTILINE)}
    for group in yaml.safe_load(RULES_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            base, _, anchor = url.partition("#")
            assert base.endswith("/docs/runbook.md") and anchor == rule["alert"].lower(), url
            assert anchor in anchors, f"docs/runbook.md has no section {rule['alert']}"


def test_the_dashboard_is_json_and_names_only_exported_metrics():
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    assert dashboard["uid"] == "cloud-alarm-bridge"
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    for expression in expressions:
        assert metric_names(expression) <= METRICS, expression
    # Every metric that matters to an operator is on it.
    assert set().union(*map(metric_names, expressions)) >= METRICS
    # Panels use the dashboard's data source variable, so it works in any Grafana.
    assert {json.dumps(p["datasource"]) for p in dashboard["panels"]} == {
        json.dumps({"type": "prometheus", "uid": "${datasource}"})
    }


def test_amtool_accepts_the_example_alertmanager_config():
    assert "SUCCESS" in run("amtool", "check-config", DEPLOY_DIR / "alertmanager.yml")


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ("vendor=aliyun severity=warning cloud_namespace=acs_ecs_dashboard", "team-aliyun"),
        ("vendor=tencent severity=critical cloud_namespace=qce/cvm", "oncall-pager,team-tencent"),
        ("vendor=tencent severity=warning cloud_namespace=qce/cdb", "dba-team"),
        ("vendor=kingsoft severity=warning cloud_namespace=KEC", "team-kingsoft"),
        ("vendor=kingsoft severity=info cloud_namespace=KEC", "blackhole"),
    ],
)
def test_the_example_routes_by_vendor_severity_and_namespace(labels, receivers):
    config = f"--config.file={DEPLOY_DIR / 'alertmanager.yml'}"
    out = run("amtool", "config", "routes", "test", config, *labels.split())
    assert out.splitlines()[0] == receivers


def test_the_example_groups_by_policy_and_inhibits_warning_by_critical_on_the_same_object():
    config = yaml.safe_load((DEPLOY_DIR / "alertmanager.yml").read_text())
    assert "policy_id" in config["route"]["group_by"]
    objects = set()
    for rule in config["inhibit_rules"]:
        assert 'severity="critical"' in rule["source_matchers"]
        assert 'severity="warning"' in rule["target_matchers"]
        objects |= set(rule["equal"]) - {"cloud_namespace"}
    assert objects == {"unInstanceId", "instanceId", "host"}


def test_the_demo_prometheus_config_loads_the_charts_rules(tmp_path):
    # Lay the files out as docker-compose.yml mounts them.
    prometheus = compose()["services"]["prometheus"]
    for volume in prometheus["volumes"]:
        source, target = volume.split(":")[:2]
        relative = Path(target).relative_to("/etc/prometheus")
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY_DIR / source, tmp_path / relative)
    assert "SUCCESS: 8 rules found" in run("promtool", "check", "config", tmp_path / "deploy" / "prometheus.yml")


def test_promtool_accepts_the_demo_prometheus_config_in_a_clone():
    assert "SUCCESS: 8 rules found" in run("promtool", "check", "config", "deploy/prometheus.yml",
                                           cwd=DEPLOY_DIR.parent)


def test_the_demo_mounts_the_single_copies_from_the_chart():
    mounts = {}
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY_DIR / source).exists(), f"{name}: {source} does not exist"
                mounts[(DEPLOY_DIR / source).resolve()] = (name, target)
    assert mounts[RULES_FILE] == ("prometheus", "/etc/prometheus/helm/cloud-alarm-bridge/files/prometheus-rules.yaml")
    grafana_dashboard = mounts[DASHBOARD_FILE]
    assert grafana_dashboard[0] == "grafana"
    # No second copy of either file in deploy/ or the chart.
    originals = {RULES_FILE.read_bytes(), DASHBOARD_FILE.read_bytes()}
    for path in [*DEPLOY_DIR.rglob("*"), *RULES_FILE.parents[1].rglob("*")]:
        if path.is_file() and path not in {RULES_FILE, DASHBOARD_FILE}:
            assert path.read_bytes() not in originals, f"{path} is a copy"
    # Grafana's dashboard provider reads the directory the dashboard is mounted into.
    provisioning = DEPLOY_DIR / "grafana" / "provisioning"
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yaml").read_text())
    assert providers["providers"][0]["options"]["path"] == str(Path(grafana_dashboard[1]).parent)


def test_grafana_gets_alertmanager_as_a_prometheus_implementation_data_source():
    provisioning = DEPLOY_DIR / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "datasources.yaml").read_text())
    by_type = {d["type"]: d for d in datasources["datasources"]}
    assert by_type["alertmanager"]["jsonData"]["implementation"] == "prometheus"
    assert by_type["alertmanager"]["url"] == "http://alertmanager:9093"
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"


def test_the_image_is_slim_python_non_root_and_runs_serve():
    instructions = dockerfile_instructions()
    assert instructions["FROM"] == ["python:3.11-slim"]
    assert any("pip install ." in run_ for run_ in instructions["RUN"])
    assert instructions["USER"][-1].split(":")[0] not in {"root", "0"}
    assert image_command() == ["cloud-alarm-bridge", "serve"]


def test_the_image_the_demo_and_the_chart_pass_only_serve_flags_of_the_contract(render):
    container = render().container()
    assert container["command"] + container["args"][:1] == image_command()
    assert compose()["services"]["bridge"]["command"][0] == "serve"
    assert flags_used(container) <= SERVE_FLAGS
    assert "--config" in flags_used(container)


def test_the_image_copies_what_pip_install_needs_and_the_build_context_keeps_it():
    copied = [word for line in dockerfile_instructions()["COPY"] for word in line.split()[:-1]]
    assert copied == ["pyproject.toml", "README.md", "bridge"]
    for source in copied:
        assert (DEPLOY_DIR.parent / source).exists(), f"the image copies {source}, which does not exist"
    kept = (DEPLOY_DIR / "Dockerfile.dockerignore").read_text()
    assert all(f"!{source}" in kept for source in copied)
