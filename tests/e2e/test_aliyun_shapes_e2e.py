"""Every Alibaba sample becomes the expected alert in a real Alertmanager, and what ends it resolves it.

One bridge and one Alertmanager serve the module; each test uses alerts of its own objects. Samples are
posted as published, with their times moved to now where the time decides whether the alert still fires
(an event resolves itself an hour after it happened).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import pytest

from bridge.vendors.aliyun.common import EVENT_TTL
from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes

pytestmark = pytest.mark.e2e
FORM = "application/x-www-form-urlencoded"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def sample(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("aliyun", name))


def event_time(at: float) -> str:
    """Alibaba's event time format, ``20230401T180958.118+0800``."""
    return datetime.fromtimestamp(at, SHANGHAI).strftime("%Y%m%dT%H%M%S.000%z")


def post(bridge: Bridge, body: dict[str, Any] | bytes, content_type: str = "application/json") -> None:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    response = bridge.post("aliyun", data, content_type)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}


def firing(am: Alertmanager, **labels: str) -> dict[str, Any]:
    [alert] = am.wait_for(lambda alerts: len(active(alerts)) == 1 and active(alerts), message=f"{labels} firing",
                          **labels)
    return alert


def gone(am: Alertmanager, timeout: float = 10.0, **labels: str) -> None:
    am.wait_for(lambda alerts: not alerts, timeout=timeout, message=f"{labels} resolved", **labels)


def test_event_rule_callbacks_fire_on_their_instance_and_resolve_themselves(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    expires_in = 5.0  # room for a loaded machine to deliver it before it expires
    happened = event_time(time.time() - EVENT_TTL + expires_in)
    post(bridge, {**sample("event-rule-preemptible.json"), "eventTime": happened})
    post(bridge, {**sample("event-rule-statechange.json"), "eventTime": happened})

    preempted = firing(am, alertname="Instance:PreemptibleInstanceInterruption")
    assert preempted["labels"] == {
        "alertname": "Instance:PreemptibleInstanceInterruption", "vendor": "aliyun", "cloud_namespace": "ECS",
        "region": "eu-west-1", "policy_id": "抢占式实例中断事件报警", "severity": "warning",
        "instanceId": "i-d7o6oaa1z4lpi4ekuf6k", "arn": "acs:ecs:cn-shanghai:153774292245****:instance/<resource-id>"}
    assert preempted["annotations"]["content_action"] == "de***"
    changed = firing(am, alertname="Instance:StateChange")
    assert changed["labels"]["instanceId"] == "i-bp1ecr********5go2go"
    assert changed["labels"]["severity"] == "info"
    assert changed["annotations"]["content_state"] == "Stopping"

    # Neither ever gets a recovery from CloudMonitor: each resolves itself an hour after it happened.
    gone(am, timeout=expires_in + 10, alertname="Instance:PreemptibleInstanceInterruption")
    gone(am, alertname="Instance:StateChange")


def test_an_event_that_ends_is_resolved_by_its_end(shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    now = time.time()
    reboot = {**sample("event-rule-statechange.json"), "name": "Instance:SystemFailure.Reboot:Executing",
              "level": "CRITICAL", "content": {"resourceId": "i-reboot-e2e"}}
    post(bridge, {**reboot, "eventTime": event_time(now - 60)})
    alert = firing(am, alertname="Instance:SystemFailure.Reboot")
    assert (alert["labels"]["instanceId"], alert["labels"]["severity"]) == ("i-reboot-e2e", "critical")
    post(bridge, {**reboot, "name": "Instance:SystemFailure.Reboot:Executed", "eventTime": event_time(now)})
    gone(am, alertname="Instance:SystemFailure.Reboot")


def test_a_subscription_push_fires_as_form_and_its_resolved_push_as_json_resolves_it(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    now_ms = int(time.time() * 1000)
    fields = dict(parse_qsl(fixture_bytes("aliyun", "event-subscription.form").decode(), keep_blank_values=True))
    pushed = {**json.loads(fields["alert"]), "timestamp": now_ms - 60_000}
    post(bridge, urlencode({**fields, "alert": json.dumps(pushed), "time": now_ms - 60_000}).encode(), FORM)

    alert = firing(am, alertname="CloudAssistant:FirstHeartbeat")
    assert alert["labels"] == {
        "alertname": "CloudAssistant:FirstHeartbeat", "vendor": "aliyun", "cloud_namespace": "ECS",
        "region": "cn-hangzhou",
        "policy_id": "testid", "severity": "info", "instanceId": "i-testhost",
        "arn": "acs:ecs:cn-hangzhou:testuser:instance/i-testhost"}
    assert alert["annotations"]["strategy_name"] == "eventwebhook"

    body = sample("event-subscription.json")
    post(bridge, {**body, "alert": {**body["alert"], "alertStatus": "RESOLVED", "timestamp": now_ms},
                         "time": now_ms})
    gone(am, alertname="CloudAssistant:FirstHeartbeat")


def test_a_cloudmonitor_2_alert_fires_survives_a_retag_and_its_recovery_resolves_it(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    now_ms = int(time.time() * 1000)
    body = sample("cms2-occurred.json")
    post(bridge, {**body, "timestamp": now_ms - 60_000})
    alert = firing(am, alertname="ECS CPU usage is high")
    assert alert["labels"] == {
        "alertname": "ECS CPU usage is high", "vendor": "aliyun", "cloud_namespace": "ecs", "region": "cn-hangzhou",
        "policy_id": "rule-1", "severity": "warning", "entity_type": "instance", "entity_id": "i-123",
        "cms_region": "cn-hangzhou", "customNumber": "7", "regionId": "cn-hangzhou", "environment": "production"}
    assert alert["annotations"]["current_value"] == "92.5"
    assert alert["generatorURL"] == "https://cmsnext.console.aliyun.com/"
    # A user edits a tag while it fires: the same object, now under its new labels, and still one alert.
    retagged = {**body, "resource": {**body["resource"], "tags": {"regionId": "cn-hangzhou", "environment": "prod"}}}
    post(bridge, {**retagged, "status": "PERSISTENT", "timestamp": now_ms - 30_000})
    am.wait_for(lambda alerts: [a["labels"]["environment"] for a in active(alerts)] == ["prod"],
                message="only the retagged alert firing", alertname="ECS CPU usage is high")
    post(bridge, {**retagged, "status": "RECOVERED", "subtype": "NORMAL_RESOLVE", "timestamp": now_ms})
    gone(am, alertname="ECS CPU usage is high")


def test_an_api_gateway_alarm_without_region_id_gets_its_region_and_its_ok_resolves_it(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    post(bridge, fixture_bytes("aliyun", "apigateway-alert-ms.form"), FORM)
    alert = firing(am, alertname="Code5XX")
    assert (alert["labels"]["region"], alert["labels"]["dim_region"]) == ("cn-shenzhen", "cn-shenzhen")
    post(bridge, fixture_bytes("aliyun", "apigateway-ok-ms.form"), FORM)
    gone(am, alertname="Code5XX")


def test_a_body_of_no_known_shape_is_refused_with_what_each_shape_lacked(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    _, bridge = shared_stack
    response = bridge.post("aliyun", json.dumps({"name": "Instance:StateChange"}))
    assert response.status_code == 400
    assert response.json()["error"].startswith("body: no Alibaba CloudMonitor callback shape matches; tried "
                                                "threshold alarm callback (alertState: missing or empty)")
    assert "event-rule callback (product: missing or empty)" in response.json()["error"]


def test_the_other_threshold_samples_fire_and_their_ok_resolves_them(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    post(bridge, fixture_bytes("aliyun", "json-list-dimensions.json"))
    alert = firing(am, alertname="CPUUtilization", instanceId="i-12345")
    assert (alert["labels"]["severity"], alert["labels"]["policy_id"]) == ("critical", "rule-cpu-0001")
    post(bridge, {**sample("json-list-dimensions.json"), "alertState": "OK", "timestamp": "1508136820"})
    gone(am, alertname="CPUUtilization", instanceId="i-12345")

    # Another API of the same gateway (the API Gateway test above already resolved the sample's own API,
    # so its older INSUFFICIENT_DATA would rightly be ignored as late).
    other_api = (b"c6fa5e4b2d1e4f0a9b8c7d6e5f4a3b2c", b"0000000000000000000000000000e2e0")
    post(bridge, fixture_bytes("aliyun", "apigateway-insufficient-data.form").replace(*other_api), FORM)
    alert = firing(am, alertname="Code5XX", apiUid=other_api[1].decode())
    assert (alert["labels"]["alarm_state"], alert["labels"]["region"]) == ("insufficient_data", "cn-shenzhen")
    post(bridge, fixture_bytes("aliyun", "apigateway-ok-ms.form").replace(*other_api), FORM)
    gone(am, alertname="Code5XX", apiUid=other_api[1].decode())
