"""Volcengine / BytePlus Cloud Monitor callbacks: one alert per resource and metric, recoveries that
resolve exactly theirs, nodes that share an Id, no-data alarms, events, and the console's Token header."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.store.sqlite import SqliteStore
from bridge.vendors import ParseContext
from bridge.vendors.volcengine import VENDOR as volcengine
from bridge.vendors.volcengine import happened_at
from tests.harness.fixtures import fixture_bytes
from tests.harness.fuzzing import SLOW_SHAPES, pathological

NOW = 1_800_000_000.0
CTX = ParseContext(now=NOW)
HAPPENED = 1772068329.0  # 2026-02-26 09:12:09(UTC+08:00)


def sample(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("volcengine", name))


def parse(body: bytes | dict[str, Any]) -> list[Alarm]:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return volcengine.parse(raw, "application/json", CTX).alarms


def key(alarm: Alarm) -> str:
    return to_alert(alarm, MappingOptions(), NOW).object_key


def test_a_redis_node_alarm_becomes_the_alert_a_user_expects() -> None:
    [alarm] = parse(fixture_bytes("volcengine", "redis-node-000-metric.json"))
    labels = to_alert(alarm, MappingOptions(), NOW).labels
    assert labels == {
        "alertname": "MemUtil", "vendor": "volcengine", "cloud_namespace": "VCM_Redis", "region": "cn-shanghai",
        "policy_id": "1995439462307655680", "severity": "warning", "ResourceID": "redis-shzl****xosmn6xz",
        "Node": "server-redis-shzl****xosmn6xz-000-0-0", "ResourceName": "example-cn-prod-redis",
        "ProjectName": "example-cn", "sub_namespace": "server"}
    assert alarm.state is AlarmState.FIRING
    assert (alarm.started_at, alarm.event_at) == (HAPPENED, HAPPENED)
    assert alarm.details["current_value"] == "90.5373 %" and alarm.details["threshold"] == "90 %"
    assert alarm.details["rule_name"] == "缓存数据库 Redis 版数据节点告警策略"


def test_two_nodes_of_one_instance_are_two_alerts_and_a_recovery_resolves_only_its_node() -> None:
    [node0] = parse(fixture_bytes("volcengine", "redis-node-000-metric.json"))
    [node1] = parse(fixture_bytes("volcengine", "redis-node-001-metric.json"))
    [recovered] = parse(fixture_bytes("volcengine", "redis-node-000-recovered.json"))
    assert key(node0) != key(node1), "they share the Id; the Node dimension tells them apart"
    assert recovered.state is AlarmState.RESOLVED and key(recovered) == key(node0)
    assert recovered.resolved_at == HAPPENED + 1800 and recovered.event_at > node0.event_at


def test_each_resource_of_one_callback_is_its_own_alert_and_only_metrics_in_warning_fire() -> None:
    alarms = parse(fixture_bytes("volcengine", "ecs-two-resources-metric.json"))
    shown = sorted((a.dimensions["ResourceID"][:7], a.name, a.state.value) for a in alarms)
    assert shown == [("i-ycbx1", "CpuTotal", "firing"),
                     ("i-ycbx2", "CpuTotal", "firing"), ("i-ycbx2", "MemoryUsedUtilization", "firing")]
    assert {a.severity for a in alarms} == {"critical"}


def test_a_metric_out_of_warning_in_an_alarm_callback_neither_fires_nor_resolves() -> None:
    """The resource is still in alarm; only its recovery says the rule's metrics are fine. Resolving here
    would also record a recovery that a later alarm with the same HappenedAt could not overcome."""
    body = sample("ecs-two-resources-metric.json")
    body["Resources"] = body["Resources"][:1]
    assert [(a.name, a.state) for a in parse(body)] == [("CpuTotal", AlarmState.FIRING)]
    for metric in body["Resources"][0]["Metrics"]:
        metric["Warning"] = False  # contradictory: in alarm, yet no metric in warning; then every metric fires
    assert sorted(a.name for a in parse(body)) == ["CpuTotal", "MemoryUsedUtilization"]
    recovered = volcengine_recovery(body)
    assert sorted((a.name, a.state) for a in parse(recovered)) == [
        ("CpuTotal", AlarmState.RESOLVED), ("MemoryUsedUtilization", AlarmState.RESOLVED)]


def volcengine_recovery(fired: dict[str, Any]) -> dict[str, Any]:
    recovered = {**fired, "Type": "MetricRecovered", "RecoveredResources": fired["Resources"]}
    del recovered["Resources"]
    return recovered


def test_a_renamed_resource_is_still_the_same_object() -> None:
    [alarm] = parse(fixture_bytes("volcengine", "redis-node-000-metric.json"))
    renamed = sample("redis-node-000-metric.json")
    renamed["Resources"][0].update(Name="new-name", ProjectName="other")
    [again] = parse(renamed)
    assert key(again) == key(alarm)


def test_no_data_fires_as_insufficient_data_on_the_same_object_and_its_recovery_resolves_it() -> None:
    [no_data] = parse(fixture_bytes("volcengine", "ecs-nodata.json"))
    [back] = parse(fixture_bytes("volcengine", "ecs-nodata-recovered.json"))
    assert (no_data.name, no_data.state, no_data.alarm_state) == ("CpuTotal", AlarmState.FIRING, "insufficient_data")
    assert back.state is AlarmState.RESOLVED and key(back) == key(no_data)
    metric_alarm = sample("ecs-two-resources-metric.json")
    metric_alarm["Resources"] = [{**metric_alarm["Resources"][0], **{k: no_data_resource(k) for k in ("Id", "Name")}}]
    metric_alarm["Resources"][0]["Dimensions"] = sample("ecs-nodata.json")["NoDataResources"][0]["Dimensions"]
    cpu = next(a for a in parse(metric_alarm) if a.name == "CpuTotal")
    assert key(cpu) == key(no_data), "no data and the metric alarm are one object: at most one of them fires"


def no_data_resource(field: str) -> str:
    return sample("ecs-nodata.json")["NoDataResources"][0][field]


def test_a_resource_without_metrics_is_named_after_the_rule() -> None:
    body = sample("redis-node-000-recovered.json")
    body["RecoveredResources"][0]["Metrics"] = []
    [alarm] = parse(body)
    assert alarm.name == "缓存数据库 Redis 版数据节点告警策略" and alarm.state is AlarmState.RESOLVED


def test_a_rule_renamed_while_a_resource_without_metrics_fires_still_resolves_it() -> None:
    """The rule's name is such an alert's name, and a user may rename the rule; its ``RuleId`` stays."""
    fired = sample("redis-node-000-metric.json")
    fired["Resources"][0]["Metrics"] = []
    recovered = sample("redis-node-000-recovered.json")
    recovered["RecoveredResources"][0]["Metrics"] = []
    recovered["RuleName"] = "renamed while in alarm"
    [alarm], [recovery] = parse(fired), parse(recovered)
    assert alarm.name != recovery.name and key(recovery) == key(alarm)
    other_rule = sample("redis-node-000-metric.json")
    other_rule["Resources"][0]["Metrics"] = []
    other_rule["RuleId"] = "another-rule"
    assert key(parse(other_rule)[0]) != key(alarm), "the rule's id still tells rules apart"
    no_id = {**fired, "RuleId": ""}
    renamed_no_id = {**fired, "RuleId": "", "RuleName": "another name"}
    assert key(parse(renamed_no_id)[0]) != key(parse(no_id)[0]), "without an id, the name is all there is"


def test_an_event_fires_on_its_resource_and_expires_as_events_never_recover() -> None:
    [alarm] = parse(fixture_bytes("volcengine", "event-ecs-disk-redeploy.json"))
    assert (alarm.name, alarm.namespace, alarm.region, alarm.severity) == (
        "ecs:Disk:DiskError.Redeploy.Executing", "ecs", "cn-guangzhou", "info")
    assert alarm.dimensions["resource"] == "i-ycb4xxxxxxxxxxxxxxxx"
    assert alarm.started_at == 1664332705.0 and alarm.expires_at == 1664332705.0 + 3600
    assert alarm.details["data_DiskId"] == "vol-xxxx"


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-02-26 09:12:09(UTC+08:00)", HAPPENED),
    ("2026-02-26 09:12:09 (UTC+8)", HAPPENED),
    ("2026-02-26 01:12:09(UTC)", HAPPENED),
    ("2026-02-26 09:12:09+08:00", HAPPENED),
    (1772068329, HAPPENED),
    ("2026-02-26 09:12:09", HAPPENED),  # no zone: the vendor time zone, Asia/Shanghai by default
])
def test_happened_at_is_read_in_every_form(raw: Any, expected: float) -> None:
    assert happened_at(raw, CTX, {}) == expected


def test_an_unreadable_happened_at_falls_back_to_arrival_and_says_so() -> None:
    body = sample("redis-node-000-recovered.json")
    body["HappenedAt"] = "last tuesday(UTC+08:00)"
    [alarm] = parse(body)
    assert alarm.resolved_at == HAPPENED + 1800, "the resource's LastAlertTime stands in"
    assert alarm.details["vendor_time_unparsed"] == "HappenedAt=last tuesday(UTC+08:00)"
    del body["RecoveredResources"][0]["LastAlertTime"]
    [alarm] = parse(body)
    assert alarm.resolved_at == NOW


@pytest.mark.parametrize("shape", sorted(SLOW_SHAPES))
def test_a_hostile_happened_at_is_read_in_linear_time(shape: str) -> None:
    """A lazy regex over ``HappenedAt`` once backtracked quadratically on inner spaces (8 KB: 0.4 s)."""
    for value in (pathological(shape, 50_000) + end for end in ("", "x", "(UTC+08:00)", "(UTC+08:00")):
        body = sample("redis-node-000-metric.json")
        body["HappenedAt"] = value
        started = time.monotonic()
        parse(body)
        assert time.monotonic() - started < 1


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.pop("Type"), "^Type: missing or empty$"),
    (lambda b: b.update(Type="Alarm"), "^Type: must be Metric, MetricRecovered"),
    (lambda b: b.pop("Resources"), "all missing or empty$"),
    (lambda b: b.update(Resources={"Id": "x"}), r"^Resources: must be an array, got object$"),
    (lambda b: b["Resources"][0].update(Dimensions="Node=1"), r"^Resources\[0\].Dimensions: must be an array"),
    (lambda b: b["Resources"][0].update(Metrics=7), r"^Resources\[0\].Metrics: must be an array"),
    (lambda b: (b["Resources"][0].update(Metrics=[]), b.pop("RuleName")), "^RuleName: missing or empty$"),
])
def test_a_body_that_cannot_become_alerts_is_refused_naming_the_field(mutate, message: str) -> None:
    body = sample("redis-node-000-metric.json")
    mutate(body)
    with pytest.raises(InvalidPayload, match=message):
        parse(body)


def test_only_json_is_accepted() -> None:
    with pytest.raises(UnsupportedMediaType):
        volcengine.parse(b"Type=Metric", "application/x-www-form-urlencoded", CTX)


def test_the_consoles_token_header_is_accepted_as_a_token(make_client: Callable[..., FlaskClient],
                                                          store: SqliteStore) -> None:
    """Volcengine's generic callback with "interface encryption" sends ``Token: <token>``."""
    client = make_client(tokens=("s3cret",))
    body = fixture_bytes("volcengine", "redis-node-000-metric.json")
    refused = client.post("/callbacks/volcengine", data=body, content_type="application/json",
                          headers={"Token": "wrong"})
    assert refused.status_code == 401 and store.stats([], 0).total == 0
    accepted = client.post("/callbacks/volcengine", data=body, content_type="application/json",
                           headers={"Token": "s3cret"})
    assert accepted.status_code == 200, accepted.text
    assert store.stats([], 0).total == 1
