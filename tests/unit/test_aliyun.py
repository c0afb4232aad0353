"""Alibaba CloudMonitor threshold callbacks: form and JSON, Java-map dimensions, "null" strings."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

import pytest

from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import AlarmState, InvalidPayload, UnsupportedMediaType, object_key_of
from bridge.vendors import ParseContext
from bridge.vendors.aliyun import VENDOR as aliyun
from bridge.vendors.aliyun import parse_dimensions
from tests.harness.alarms import assert_alarm
from tests.harness.fixtures import fixture_bytes

FORM = "application/x-www-form-urlencoded"
CTX = ParseContext(now=1_700_000_000.0)


def parse(body: bytes, content_type: str = FORM):
    return aliyun.parse(body, content_type, CTX)


def form(name: str, **changes: str) -> bytes:
    fields = dict(parse_qsl(fixture_bytes("aliyun", name).decode(), keep_blank_values=True))
    return urlencode({**fields, **changes}).encode()


def test_it_reads_the_documented_sample() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "threshold-alert.form")).alarms
    assert_alarm(alarm, name="Host.mem.usedutilization", state=AlarmState.FIRING, severity="warning",
                 namespace="acs_ecs", policy_id="applyTemplateee147e59-664f-4033-a1be-e9595746****",
                 dimensions={"userId": "12****)", "instanceId": "i-12****"}, started_at=1508136760.0)
    assert alarm.details["expression"] == "$Average>=95"
    assert "signature" not in alarm.details and "eEq1zHuCUp0XSmLD8p8VtTKF" not in repr(alarm)


def test_it_reads_millisecond_timestamps_and_null_strings() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "apigateway-alert-ms.form")).alarms
    assert alarm.started_at == 1685614196.421
    assert alarm.severity == "info"
    assert alarm.region == ""  # regionId=null; the mapping takes the region dimension instead
    assert "instance_name" not in alarm.details
    assert alarm.dimensions["region"] == "cn-shenzhen"
    assert alarm.details["last_time"] == "2分钟"


def test_a_recovery_takes_its_severity_from_the_previous_level() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "apigateway-ok-ms.form")).alarms
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.severity == "info"
    assert alarm.resolved_at == 1685646149.981


def test_insufficient_data_fires_with_its_own_state_label() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "apigateway-insufficient-data.form")).alarms
    assert alarm.state is AlarmState.FIRING
    assert alarm.alarm_state == "insufficient_data"


def test_alarm_and_alert_are_the_same_state() -> None:
    [alarm] = parse(form("threshold-alert.form", alertState="ALARM")).alarms
    assert alarm.state is AlarmState.FIRING


def test_it_reads_json_bodies_with_list_dimensions() -> None:
    [alarm] = parse(fixture_bytes("aliyun", "json-list-dimensions.json"), "application/json").alarms
    assert alarm.dimensions == {"userId": "12345", "instanceId": "i-12345"}
    assert alarm.severity == "critical"


@pytest.mark.parametrize(("raw", "expected"), [
    ("{userId=12, instanceId=i-1}", {"userId": "12", "instanceId": "i-1"}),
    ("{a=1,b=x,y, c=3}", {"a": "1", "b": "x,y", "c": "3"}),
    ('[{"userId":"1","instanceId":"i-2"}]', {"userId": "1", "instanceId": "i-2"}),
    ('{"instanceId": "i-3"}', {"instanceId": "i-3"}),
    ("null", {}),
    ("{}", {}),
    ("{k=}", {}),
])
def test_it_reads_every_dimensions_shape(raw: str, expected: dict[str, str]) -> None:
    assert parse_dimensions(raw) == expected


@pytest.mark.parametrize(("changes", "message"), [
    ({"alertState": "BROKEN"}, "alertState: must be OK, ALERT, ALARM or INSUFFICIENT_DATA"),
    ({"alertState": "null"}, "alertState: missing"),
    ({"metricName": ""}, "metricName: missing"),
])
def test_it_rejects_what_would_give_an_alert_a_wrong_identity(changes: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        parse(form("threshold-alert.form", **changes))


def test_an_unreadable_timestamp_stands_for_the_arrival_time() -> None:
    [alarm] = parse(form("apigateway-ok-ms.form", timestamp="noon")).alarms
    assert (alarm.state, alarm.resolved_at) == (AlarmState.RESOLVED, CTX.now)
    assert alarm.details["vendor_time_unparsed"] == "timestamp=noon"


def test_it_refuses_other_content_types() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse(b"x", "application/xml")


def test_json_body_must_be_an_object() -> None:
    with pytest.raises(InvalidPayload, match="body: must be an object"):
        parse(json.dumps([1]).encode(), "application/json")


API_GATEWAY = {"alertname": "Code5XX", "vendor": "aliyun", "namespace": "acs_apigateway_dashboard",
               "policy_id": "rule-5xx-0001", "severity": "info", "apiStageName": "RELEASE",
               "apiUid": "c6fa5e4b2d1e4f0a9b8c7d6e5f4a3b2c", "userId": "1270000000000000", "dim_region": "cn-shenzhen"}


@pytest.mark.parametrize(("name", "before"), [
    ("threshold-alert.form", {"alertname": "Host.mem.usedutilization", "vendor": "aliyun", "namespace": "acs_ecs",
                              "policy_id": "applyTemplateee147e59-664f-4033-a1be-e9595746****",
                              "severity": "warning", "instanceId": "i-12****", "userId": "12****)"}),
    ("json-list-dimensions.json", {"alertname": "CPUUtilization", "vendor": "aliyun", "namespace": "acs_ecs_dashboard",
                                   "policy_id": "rule-cpu-0001", "severity": "critical", "instanceId": "i-12345",
                                   "userId": "12345"}),
    ("apigateway-alert-ms.form", API_GATEWAY),
    ("apigateway-ok-ms.form", API_GATEWAY),
    ("apigateway-insufficient-data.form", {**API_GATEWAY, "alarm_state": "insufficient_data"}),
])
def test_payloads_that_worked_before_keep_their_labels_and_their_object(name: str, before: dict[str, str]) -> None:
    """The labels each sample had before issue 13; the one change asked for is a region from a dimension."""
    content_type = FORM if name.endswith(".form") else "application/json"
    [alarm] = parse(fixture_bytes("aliyun", name), content_type).alarms
    alert = to_alert(alarm, MappingOptions(), CTX.now)
    added = {"region": "cn-shenzhen"} if "dim_region" in before else {}
    assert alert.labels == {**before, **added}
    assert alert.object_key == object_key_of(before)
