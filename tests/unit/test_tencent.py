"""Tencent Cloud Monitor callbacks: every documented format and its sloppy variants."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bridge.model import AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import ParseContext
from bridge.vendors.tencent import VENDOR as tencent
from tests.harness.fixtures import fixture_bytes

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
CTX = ParseContext(now=NOW)


def parse(body: bytes | dict, content_type: str = "application/json", ctx: ParseContext = CTX):
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return tencent.parse(raw, content_type, ctx)


def shanghai(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def test_it_reads_a_current_metric_alarm() -> None:
    callback = parse(fixture_bytes("tencent", "metric-firing.json"))
    [alarm] = callback.alarms
    assert callback.reply == {"sessionId": "xxxxxxxx", "retCode": 0}
    assert alarm.name == "cpu_usage"
    assert alarm.state is AlarmState.FIRING
    assert (alarm.namespace, alarm.region, alarm.policy_id) == ("qce/cvm", "gz", "policy-n4exeh88")
    assert alarm.dimensions == {"unInstanceId": "ins-o9p3rg3m", "objId": "94f1133c-46cf-4c61-a4c1-d928183aba47",
                                "objName": "172.21.30.15#588789"}
    assert alarm.started_at == shanghai("2017-03-09 07:00:00")
    assert alarm.details["current_value"] == "100 %"
    assert alarm.details["threshold"] == "> 90 %"
    assert alarm.details["duration_seconds"] == "500"
    assert alarm.summary == "CPU utilization on 172.21.30.15#588789: 100% (> 90%)"


def test_it_reads_times_in_the_configured_zone() -> None:
    ctx = ParseContext(now=NOW, timezone=ZoneInfo("UTC"))
    [alarm] = parse(fixture_bytes("tencent", "metric-firing.json"), ctx=ctx).alarms
    assert alarm.started_at == datetime(2017, 3, 9, 7, 0, tzinfo=UTC).timestamp()


def test_it_reads_a_recovery_with_its_recover_time() -> None:
    [alarm] = parse(fixture_bytes("tencent", "metric-resolved.json")).alarms
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.resolved_at == shanghai("2017-03-09 07:50:00")
    assert alarm.event_at >= alarm.resolved_at


def test_it_accepts_status_as_string_and_numbers_as_numbers() -> None:
    [alarm] = parse(fixture_bytes("tencent", "metric-resolved-string-status.json")).alarms
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.details["policy_type_name"] == "Cloud Virtual Machine"
    assert alarm.details["notify_period_seconds"] == "5"


def test_it_reads_the_2018_format_with_times_inside_the_policy() -> None:
    [alarm] = parse(fixture_bytes("tencent", "2018-metric-firing.json")).alarms
    assert alarm.name == "cpu usage"
    assert alarm.started_at == shanghai("2017-03-09 07:00:00")
    assert alarm.details["duration_seconds"] == "500"


def test_it_flattens_the_event_object_detail_into_dimensions() -> None:
    [alarm] = parse(fixture_bytes("tencent", "event-firing.json")).alarms
    assert alarm.name == "ping_unreachable"
    assert alarm.namespace == "cvm"
    assert alarm.dimensions == {"unInstanceId": "ins-pftdvqa2", "deviceLanIp": "172.21.0.17",
                                "deviceWanIp": "118.89.233.99", "uniqVpcId": "vpc-ilrwkcbw"}


def test_it_keeps_an_outer_dimension_when_object_detail_repeats_its_name() -> None:
    payload = json.loads(fixture_bytes("tencent", "event-firing.json"))
    payload["alarmObjInfo"]["dimensions"]["objDetail"]["unInstanceId"] = "shadow"
    [alarm] = parse(payload).alarms
    assert alarm.dimensions["unInstanceId"] == "ins-pftdvqa2"
    assert alarm.dimensions["objDetail_unInstanceId"] == "shadow"


@pytest.mark.parametrize(("name", "expected"), [
    ("event-mysql-firing.json", {"name": "ha_switch", "policy_id": "policy-mysql01", "namespace": "cdb",
                                 "product_name": "TencentDB for MySQL", "instance": "cdb-bwieva60"}),
    ("clb-listener-firing.json", {"name": "outtraffic", "policy_id": "policy-clb0001", "namespace": "qce/lb_public",
                                  "current_value": "180 Mbps", "instance": "118.25.31.161#443#https"}),
    ("vpc-bandwidth-firing.json", {"name": "out_traffic", "policy_id": "policy-bwp00001", "namespace": "qce/bwp",
                                   "threshold": "> 50 Mbps", "instance": "bwp-abc"}),
    ("metric-firing-zh.json", {"name": "cpu_usage", "policy_id": "policy-n4exeh88", "namespace": "qce/cvm",
                               "policy_type_name": "云服务器-基础监控", "instance": "ins-o9p3rg3m"}),
])
def test_it_reads_every_documented_product_sample(name: str, expected: dict[str, str]) -> None:
    payload = json.loads(fixture_bytes("tencent", name))
    payload["additionalMsg"] = [{"key": "alias", "name": "Alias", "value": "prod-主库"}]  # the docs' extra field
    [alarm] = parse(payload).alarms
    assert (alarm.name, alarm.policy_id, alarm.namespace) == (expected["name"], expected["policy_id"],
                                                              expected["namespace"])
    assert expected["instance"] in alarm.dimensions.values()
    for detail in ("product_name", "current_value", "threshold", "policy_type_name"):
        if detail in expected:
            assert alarm.details[detail] == expected[detail]
    assert json.loads(alarm.details["additional_msg"]) == payload["additionalMsg"]


def test_a_stateless_event_fires_with_an_expiry() -> None:
    payload = json.loads(fixture_bytes("tencent", "event-firing.json"))
    payload["alarmStatus"] = "-"
    [alarm] = parse(payload).alarms
    assert alarm.state is AlarmState.FIRING
    assert alarm.expires_at is not None and alarm.expires_at > alarm.started_at


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: p.pop("alarmStatus"), "alarmStatus: missing"),
    (lambda p: p.update(alarmStatus="2"), "alarmStatus: must be 1, 0 or '-'"),
    (lambda p: p["alarmPolicyInfo"]["conditions"].pop("metricName"), "alarmPolicyInfo.conditions.metricName"),
    (lambda p: p["alarmPolicyInfo"].update(conditions=[]), "alarmPolicyInfo.conditions: empty"),
    (lambda p: p.pop("alarmPolicyInfo"), "alarmPolicyInfo: missing"),
    (lambda p: p.update(alarmObjInfo=[1]), "alarmObjInfo: must be an object"),
])
def test_it_rejects_what_would_give_an_alert_a_wrong_identity(mutate, message: str) -> None:
    payload = json.loads(fixture_bytes("tencent", "metric-firing.json"))
    mutate(payload)
    with pytest.raises(InvalidPayload, match=message):
        parse(payload)


def test_it_reads_unpadded_times() -> None:
    payload = json.loads(fixture_bytes("tencent", "metric-firing.json"))
    payload.update(alarmStatus=0, firstOccurTime="2021-5-6 8:40:00", recoverTime="2021-5-6 8:46:00")
    [alarm] = parse(payload).alarms
    assert (alarm.started_at, alarm.resolved_at) == (shanghai("2021-05-06 08:40:00"), shanghai("2021-05-06 08:46:00"))
    assert "vendor_time_unparsed" not in alarm.details


def test_a_recovery_with_an_unreadable_time_still_resolves_at_its_arrival() -> None:
    """Refusing it would leave the alert firing for ever: the time only orders changes."""
    payload = json.loads(fixture_bytes("tencent", "metric-firing.json"))
    payload.update(alarmStatus="0", recoverTime="2021-13-45 8:46")
    [alarm] = parse(payload).alarms
    assert (alarm.state, alarm.resolved_at) == (AlarmState.RESOLVED, NOW)
    assert alarm.details["vendor_time_unparsed"] == "recoverTime=2021-13-45 8:46"


def test_an_unreadable_first_occurrence_counts_back_from_the_arrival() -> None:
    payload = json.loads(fixture_bytes("tencent", "metric-firing.json"))
    payload.update(firstOccurTime="yesterday", durationTime=300)
    [alarm] = parse(payload).alarms
    assert (alarm.started_at, alarm.event_at) == (NOW - 300, NOW)
    assert alarm.details["vendor_time_unparsed"] == "firstOccurTime=yesterday"


def test_it_rejects_a_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidPayload, match="body: must be an object"):
        parse(b"[1, 2]")
    with pytest.raises(InvalidPayload, match="body: not valid JSON"):
        parse(b"{not json")


def test_it_refuses_form_bodies() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse(b"a=b", "application/x-www-form-urlencoded")


def test_the_url_check_echoes_a_session_id() -> None:
    assert tencent.empty_reply({"sessionId": "abc"}) == {"sessionId": "abc", "retCode": 0}


def test_names_and_addresses_are_display_text_not_identity() -> None:
    """objName, deviceName and objDetail change with a rename or a new IP; the ids do not."""
    from bridge.mapping.default import MappingOptions, to_alert

    def key(dimensions: dict) -> str:
        body = json.loads(fixture_bytes("tencent", "event-mysql-firing.json"))
        body["alarmObjInfo"]["dimensions"] = dimensions
        [alarm] = parse(body).alarms
        return to_alert(alarm, MappingOptions(), NOW).object_key

    base = {"unInstanceId": "cdb-1", "deviceName": "db-a", "objName": "cdb-1(instance name:db-a,IP:10.0.0.1:3306)",
            "objDetail": {"IP": "10.0.0.1", "VpcName": "prod"}}
    renamed = {"unInstanceId": "cdb-1", "deviceName": "db-b", "objName": "cdb-1(instance name:db-b,IP:10.0.0.2:3306)",
               "objDetail": {"IP": "10.0.0.2", "VpcName": "prod-2"}}
    assert key(base) == key(renamed)
    assert key(base) != key({**base, "unInstanceId": "cdb-2"})
    assert key({"objName": "a"}) != key({"objName": "b"})  # no id at all: the display text must tell them apart


@pytest.mark.parametrize(("alert_id", "severity"), [
    ("xxxxxxxx_Remind", "info"), ("xxxxxxxx_Warn", "warning"), ("xxxxxxxx_Serious", "critical"),
    ("xxxxxxxx_serious", "critical"),  # read leniently, as every Tencent field
    ("xxxxxxxx", ""),  # a policy without levels: alertId is the sessionId, the configured default applies
    ("xxxxxxxx_Unknown", ""), (None, ""),
])
def test_a_multi_level_policy_gives_the_level_of_its_alert_id_as_severity(alert_id, severity: str) -> None:
    body = json.loads(fixture_bytes("tencent", "doc-2025-metric-multilevel-firing.json"))
    body["alertId"] = alert_id
    [alarm] = parse(body).alarms
    assert alarm.severity == severity
    assert alarm.details.get("alert_id", "") == (alert_id or "")


def test_a_level_change_is_one_object_in_another_variant() -> None:
    """Like Alibaba's escalation: the store resolves the Remind alert when the Serious one fires."""
    from bridge.mapping.default import MappingOptions, to_alert

    def alert(alert_id: str):
        body = json.loads(fixture_bytes("tencent", "doc-2025-metric-multilevel-firing.json"))
        [alarm] = parse({**body, "alertId": alert_id}).alarms
        return to_alert(alarm, MappingOptions(), NOW)

    remind, serious = alert("s_Remind"), alert("s_Serious")
    assert (remind.labels["severity"], serious.labels["severity"]) == ("info", "critical")
    assert remind.object_key == serious.object_key and remind.fingerprint != serious.fingerprint
