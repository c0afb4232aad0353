"""Alibaba's other callback shapes: event rules, notification-policy pushes, CloudMonitor 2.0 webhooks."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import AlarmState, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors.aliyun import VENDOR as aliyun
from bridge.vendors.aliyun.common import EVENT_IN_PROGRESS_TTL, EVENT_TTL, MAX_CONTENT_DETAILS, MAX_DETAIL_LENGTH
from tests.harness.alarms import assert_alarm
from tests.harness.fixtures import fixture_bytes

FORM = "application/x-www-form-urlencoded"
CTX = ParseContext(now=1_800_000_000.0)


def parse(body: bytes | dict[str, Any], content_type: str = "application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return aliyun.parse(data, content_type, CTX).alarms


def sample(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("aliyun", name))


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_an_event_rule_callback_becomes_an_alarm_on_the_instance() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "event-rule-preemptible.json"))
    started = at("2023-04-01T18:09:58.118+08:00")
    assert_alarm(alarm, name="Instance:PreemptibleInstanceInterruption", state=AlarmState.FIRING,
                 namespace="ECS", region="eu-west-1", policy_id="抢占式实例中断事件报警", severity="warning",
                 started_at=started, event_at=started, expires_at=started + EVENT_TTL,
                 dimensions={"instanceId": "i-d7o6oaa1z4lpi4ekuf6k",
                             "arn": "acs:ecs:cn-shanghai:153774292245****:instance/<resource-id>"})
    assert alarm.details["content_action"] == "de***"
    assert alarm.details["instance_name"] == "instanceName"  # display text: an annotation, not a label


def test_the_documented_state_change_keeps_the_new_state_in_annotations() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "event-rule-statechange.json"))
    assert_alarm(alarm, name="Instance:StateChange", severity="info", region="cn-hangzhou", policy_id="",
                 dimensions={"instanceId": "i-bp1ecr********5go2go",
                             "arn": "acs:ecs:cn-hangzhou:169070********30:instance/i-bp1ecr********5go2go"})
    assert alarm.details["content_state"] == "Stopping"
    assert "Stopping" in alarm.summary
    running = {**sample("event-rule-statechange.json"), "content": {"resourceId": "i-bp1ecr********5go2go",
                                                                   "state": "Running"}}
    [later] = parse(running)
    assert (later.name, later.dimensions) == (alarm.name, alarm.dimensions)  # the same alert, new content
    assert later.details["content_state"] == "Running"


@pytest.mark.parametrize(("name", "status", "alertname", "state", "ttl"), [
    ("Instance:SystemFailure.Reboot:Executing", "", "Instance:SystemFailure.Reboot", AlarmState.FIRING,
     EVENT_IN_PROGRESS_TTL),
    ("Instance:SystemMaintenance.Reboot:Scheduled", "", "Instance:SystemMaintenance.Reboot", AlarmState.FIRING,
     EVENT_IN_PROGRESS_TTL),
    ("Instance:SystemFailure.Reboot:Executed", "", "Instance:SystemFailure.Reboot", AlarmState.RESOLVED, None),
    ("Instance:SystemMaintenance.Reboot:Avoided", "", "Instance:SystemMaintenance.Reboot", AlarmState.RESOLVED,
     None),
    ("Instance:SystemMaintenance.Reboot:Failed", "", "Instance:SystemMaintenance.Reboot", AlarmState.FIRING,
     EVENT_TTL),
    ("Disk:Stalled", "Executing", "Disk:Stalled", AlarmState.FIRING, EVENT_IN_PROGRESS_TTL),
    ("Disk:Stalled", "Executed", "Disk:Stalled", AlarmState.RESOLVED, None),
])
def test_an_event_with_a_lifecycle_is_resolved_by_the_notification_that_ends_it(
        name: str, status: str, alertname: str, state: AlarmState, ttl: float | None) -> None:
    [alarm] = parse({**sample("event-rule-statechange.json"), "name": name, "status": status, "level": "CRITICAL"})
    assert alarm.name == alertname  # start and end of one event are one alert
    assert alarm.state is state
    assert alarm.expires_at == (None if ttl is None else alarm.event_at + ttl)
    assert alarm.resolved_at == (alarm.event_at if state is AlarmState.RESOLVED else None)


def test_the_subscription_push_reads_the_same_as_json_and_as_form() -> None:
    [from_json] = parse(fixture_bytes("aliyun", "event-subscription.json"))
    [from_form] = parse(fixture_bytes("aliyun", "event-subscription.form"), FORM)
    when = 1704780333.0
    assert_alarm(from_json, name="CloudAssistant:FirstHeartbeat", state=AlarmState.FIRING, namespace="ECS",
                 region="cn-hangzhou", policy_id="testid", severity="info", started_at=when, event_at=when,
                 expires_at=when + EVENT_TTL,
                 dimensions={"instanceId": "i-testhost", "arn": "acs:ecs:cn-hangzhou:testuser:instance/i-testhost"})
    assert from_json.details["strategy_name"] == "eventwebhook"
    assert from_json.details["event_content_opsCode"] == "InstanceStatusChange"
    assert {k: v for k, v in from_json.details.items() if k != "batch_id"} == from_form.details
    assert (from_form.name, from_form.dimensions, from_form.expires_at) == (
        from_json.name, from_json.dimensions, from_json.expires_at)
    assert "aliyunId" not in json.dumps(from_json.details) and "userInfo" not in from_json.raw
    assert from_form.raw["alert"]["eventName"] == "CloudAssistant:FirstHeartbeat"  # decoded for templates
    assert "userInfo" not in from_form.raw


def test_a_resolved_push_resolves_and_the_notification_policy_fields_are_kept() -> None:
    body = sample("event-subscription.json")
    body["alert"] = {**body["alert"], "alertStatus": "RESOLVED", "timestamp": 1704780933000,
                     "eventRawContent": json.dumps({"instanceId": "i-testhost", "instanceName": "web-7",
                                                    "privateIp": "10.0.0.7"})}
    body.update(groupingId="g-1", startTime=1704780333000, escalationLevel=2, relatedAlertIds=["a-1", "a-2"])
    [alarm] = parse(body)
    assert_alarm(alarm, state=AlarmState.RESOLVED, started_at=1704780333.0, event_at=1704780933.0,
                 resolved_at=1704780933.0, expires_at=None)
    assert alarm.dimensions["instanceId"] == "i-testhost"
    assert alarm.details["content_privateIp"] == "10.0.0.7"
    assert alarm.details["grouping_id"] == "g-1"
    assert alarm.details["escalation_level"] == "2"
    assert alarm.details["related_alert_ids"] == '["a-1","a-2"]'


def test_a_push_of_a_threshold_alarm_reads_the_metric_and_its_dimensions() -> None:
    alert = {"alertStatus": "TRIGGERED", "source": "METRIC", "metricName": "cpu_total", "eventName": "Alert",
             "product": "ECS",
             "namespace": "acs_ecs_dashboard", "ruleId": "rule-9", "severity": "CRITICAL", "curValue": "97",
             "dimensions": {"instanceId": "i-bp67", "userId": "1270"}, "timestamp": 1704780333000}
    [fired] = parse({"alert": json.dumps(alert), "strategyName": "ops"})
    assert_alarm(fired, name="cpu_total", state=AlarmState.FIRING, namespace="acs_ecs_dashboard",
                 policy_id="rule-9", severity="critical", expires_at=None,
                 dimensions={"instanceId": "i-bp67", "userId": "1270"})
    [resolved] = parse({"alert": json.dumps({**alert, "alertStatus": "RESOLVED"})})
    assert resolved.state is AlarmState.RESOLVED
    assert (resolved.name, resolved.dimensions) == (fired.name, fired.dimensions)


def test_a_cloudmonitor_2_webhook_becomes_an_alarm_on_its_entity() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "cms2-occurred.json"))
    assert_alarm(alarm, name="ECS CPU usage is high", state=AlarmState.FIRING, namespace="ecs",
                 region="cn-hangzhou", policy_id="rule-1", severity="warning", started_at=1785300000.123,
                 expires_at=None,
                 dimensions={"entity_type": "instance", "entity_id": "i-123", "_cms_region": "cn-hangzhou",
                             "customNumber": "7", "regionId": "cn-hangzhou", "environment": "production"})
    assert alarm.details["current_value"] == "92.5"
    assert alarm.details["threshold"] == "> 80"
    assert alarm.details["entity_instanceName"] == "api-server"
    assert alarm.description == "CPU usage exceeded 80%"


@pytest.mark.parametrize("status", ["RESOLVED", "RECOVERED"])
def test_a_cloudmonitor_2_recovery_resolves(status: str) -> None:
    [alarm] = parse({**sample("cms2-occurred.json"), "status": status, "subtype": "NORMAL_RESOLVE",
                     "timestamp": 1785300600000})
    assert_alarm(alarm, state=AlarmState.RESOLVED, resolved_at=1785300600.0)


@pytest.mark.parametrize(("body", "message"), [
    ({"alert": {"alertStatus": "MAYBE"}}, "alert.alertStatus: must be TRIGGERED or RESOLVED, got 'MAYBE'"),
    ({"alert": {"alertStatus": "TRIGGERED"}}, "alert.eventName: missing or empty"),
    ({"alert": "not json"}, "alert: must be a JSON object"),
    ({"specversion": "1.0", "status": "GONE", "subject": "x"}, "status: must be OCCURRED, PERSISTENT"),
    ({"specversion": "1.0", "status": "OCCURRED"}, "subject: missing or empty"),
    ({"name": "Instance:StateChange", "product": "ECS", "content": "[1]"}, "content: must be a JSON object"),
])
def test_a_recognised_shape_with_a_bad_field_names_that_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPayload, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(body)


def test_a_body_of_no_known_shape_names_every_shape_tried_and_what_each_lacked() -> None:
    with pytest.raises(InvalidPayload) as refused:
        parse({"name": "Instance:StateChange", "level": "INFO"})
    assert str(refused.value) == (
        "body: no Alibaba CloudMonitor callback shape matches; tried threshold alarm callback (alertState: "
        "missing or empty); notification-policy push (alert: missing or empty); CloudMonitor 2.0 webhook "
        "(specversion: missing or empty); event-rule callback (product: missing or empty)")


def test_a_form_body_of_no_known_shape_is_refused_too() -> None:
    fields = dict(parse_qsl(fixture_bytes("aliyun", "threshold-alert.form").decode()))
    with pytest.raises(InvalidPayload, match=r"threshold alarm callback \(alertState: missing or empty\)"):
        parse(urlencode({k: v for k, v in fields.items() if k != "alertState"}).encode(), FORM)


@pytest.mark.parametrize(("resource_id", "content", "labels", "region"), [
    ("acs:ecs:cn-hangzhou:1234:instance/i-bp1", {},
     {"instanceId": "i-bp1", "arn": "acs:ecs:cn-hangzhou:1234:instance/i-bp1"}, "cn-hangzhou"),
    ("acs:ecs:cn-shanghai:1234:instance/<resource-id>", {"instanceId": "i-d7o"},
     {"instanceId": "i-d7o", "arn": "acs:ecs:cn-shanghai:1234:instance/<resource-id>"}, "cn-shanghai"),
    ("acs:ecs:cn-shanghai:1234:instance/<resource-id>", {}, {"arn": "acs:ecs:cn-shanghai:1234:instance/<resource-id>"},
     "cn-shanghai"),
    ("d-bp1disk", {}, {"instanceId": "d-bp1disk"}, ""),  # a bare id is no ARN
])
def test_an_event_is_labelled_with_its_resource_id_and_arn(resource_id: str, content: dict[str, str],
                                                            labels: dict[str, str], region: str) -> None:
    body = {**sample("event-rule-statechange.json"), "resourceId": resource_id, "content": content, "regionId": ""}
    [alarm] = parse(body)
    assert (alarm.dimensions, alarm.region) == (labels, region)


def test_free_form_event_content_fills_a_bounded_number_of_annotations() -> None:
    content = {f"k{i:03}": "v" * 10_000 for i in range(200)}
    [alarm] = parse({**sample("event-rule-statechange.json"), "content": content})
    taken = [k for k in alarm.details if k.startswith("content_")]
    assert len(taken) == MAX_CONTENT_DETAILS
    assert all(len(alarm.details[k]) == MAX_DETAIL_LENGTH for k in taken)


def test_a_cloudmonitor_2_rules_own_annotations_are_kept() -> None:
    body = {**sample("cms2-occurred.json"), "data": {}, "annotations": {"current_value": "92.5 %", "runbook": "r"}}
    [alarm] = parse(body)
    assert (alarm.details["current_value"], alarm.details["runbook"]) == ("92.5 %", "r")


def test_a_retagged_cloudmonitor_2_entity_is_the_same_object_under_new_labels() -> None:
    body = sample("cms2-occurred.json")
    [before] = parse(body)
    retagged = {**body, "resource": {**body["resource"], "tags": {"regionId": "cn-hangzhou", "environment": "prod"}}}
    [after] = parse(retagged)
    old, new = (to_alert(a, MappingOptions(), CTX.now) for a in (before, after))
    assert (old.labels["environment"], new.labels["environment"]) == ("production", "prod")
    assert old.object_key == new.object_key
    other = {**body, "resource": {**body["resource"], "entity": {**body["resource"]["entity"], "entity_id": "i-9"}}}
    assert to_alert(parse(other)[0], MappingOptions(), CTX.now).object_key != old.object_key


def test_an_event_whose_instance_is_renamed_is_the_same_alert() -> None:
    body = sample("event-rule-preemptible.json")
    [before] = parse(body)
    [after] = parse({**body, "instanceName": "renamed", "content": {**body["content"], "instanceName": "renamed"}})
    old, new = (to_alert(a, MappingOptions(), CTX.now) for a in (before, after))
    assert old.labels == new.labels and old.object_key == new.object_key
    assert new.annotations["instance_name"] == "renamed"
