"""Every cookbook example in README.md, loaded from the README and applied to a real payload."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.mapping.limits import Limits
from bridge.model import Alarm, Alert
from bridge.pipeline import to_alerts
from bridge.rules import Rules
from bridge.rules.loading import rules_for
from bridge.settings import Settings
from bridge.vendors import VENDORS, ParseContext
from tests.harness.fixtures import fixture_bytes

DOC = Path(__file__).parents[2] / "README.md"
EXAMPLE = re.compile(r"<!-- cookbook: (\S+) -->\n```yaml\n(.*?)```", re.DOTALL)
NOW = time.time()


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(DOC.read_text(encoding="utf-8")))


def alarm(vendor: str, fixture: str) -> Alarm:
    content_type = "application/x-www-form-urlencoded" if fixture.endswith(".form") else "application/json"
    return VENDORS[vendor].parse(fixture_bytes(vendor, fixture), content_type, ParseContext(now=NOW)).alarms[0]


def apply(rules: Rules, vendor: str, fixture: str) -> Alert:
    [alert] = to_alerts([alarm(vendor, fixture)], rules, Limits(), NOW)
    return alert


def team_and_cluster(rules: Rules) -> None:
    for vendor, fixture in (("tencent", "metric-firing.json"), ("aliyun", "threshold-alert.form"),
                            ("kingsoft", "alarm.json")):
        labels = apply(rules, vendor, fixture).labels
        assert (labels["team"], labels["cluster"]) == ("infra", "prod-shanghai")


def tencent_instance(rules: Rules) -> None:
    labels = apply(rules, "tencent", "metric-firing.json").labels
    assert labels["instance"] == "172.21.30.15#588789"
    assert "objName" not in labels
    assert "instance" not in apply(rules, "kingsoft", "alarm.json").labels  # Tencent only


def drop_insufficient_data(rules: Rules) -> None:
    assert apply(rules, "aliyun", "apigateway-insufficient-data.form").resolve_only
    assert not apply(rules, "aliyun", "apigateway-alert-ms.form").resolve_only
    assert not apply(rules, "tencent", "metric-firing.json").resolve_only


def drop_products(rules: Rules) -> None:
    assert apply(rules, "aliyun", "apigateway-alert-ms.form").resolve_only
    assert apply(rules, "tencent", "clb-listener-firing.json").resolve_only
    assert not apply(rules, "aliyun", "threshold-alert.form").resolve_only
    assert not apply(rules, "tencent", "metric-firing.json").resolve_only


def severity_by_metric(rules: Rules) -> None:
    assert apply(rules, "tencent", "metric-firing.json").labels["severity"] == "critical"
    assert apply(rules, "kingsoft", "alarm.json").labels["severity"] == "critical"
    assert apply(rules, "aliyun", "threshold-alert.form").labels["severity"] == "critical"  # overrides WARN
    assert apply(rules, "tencent", "event-firing.json").labels["severity"] == "warning"


def severity_per_vendor(rules: Rules) -> None:
    assert apply(rules, "kingsoft", "alarm.json").labels["severity"] == "critical"
    assert apply(rules, "tencent", "metric-firing.json").labels["severity"] == "warning"
    assert apply(rules, "aliyun", "threshold-alert.form").labels["severity"] == "warning"  # its own WARN


def runbook(rules: Rules) -> None:
    annotations = apply(rules, "kingsoft", "alarm.json").annotations
    assert annotations["runbook_url"] == "https://runbooks.example.com/kingsoft/cpu-util"
    assert annotations["summary"] == "[no team] CPU utilization on 50fa05d9211b478293744280ac1592ag: 60 (> 50)"


def shard(rules: Rules) -> None:
    shards = {apply(rules, vendor, fixture).labels["shard"] for vendor, fixture in (
        ("tencent", "metric-firing.json"), ("tencent", "vpc-bandwidth-firing.json"),
        ("aliyun", "threshold-alert.form"), ("kingsoft", "alarm.json"))}
    assert shards <= {"0", "1"}
    assert apply(rules, "tencent", "metric-firing.json").labels["shard"] == apply(
        rules, "tencent", "metric-resolved.json").labels["shard"]  # stable for one object


CHECKS: dict[str, Callable[[Rules], None]] = {
    "team-and-cluster": team_and_cluster,
    "tencent-instance": tencent_instance,
    "drop-insufficient-data": drop_insufficient_data,
    "drop-products": drop_products,
    "severity-by-metric": severity_by_metric,
    "severity-per-vendor": severity_per_vendor,
    "runbook": runbook,
    "shard": shard,
}


def test_every_cookbook_example_is_checked() -> None:
    assert sorted(examples()) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_cookbook_example_does_what_the_doc_says(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yml"
    path.write_text(examples()[name], encoding="utf-8")
    CHECKS[name](rules_for(Settings(config_file=str(path))))
