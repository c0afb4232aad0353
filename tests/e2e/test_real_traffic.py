"""Real and documented vendor payloads end to end: the alert each becomes in a real Alertmanager, that its
recovery resolves it, and that one monitored object stays one alert whatever its display text or level does.

One bridge and one Alertmanager serve the whole module (``shared_stack``); every test uses objects of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from bridge.vendors._fields import load_json
from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes
from tests.harness.payloads import aliyun, kingsoft

pytestmark = pytest.mark.e2e
FORM = "application/x-www-form-urlencoded"
TENCENT_TIME = "%Y-%m-%d %H:%M:%S"


def tencent_fixture(name: str) -> dict[str, Any]:
    return load_json(fixture_bytes("tencent", name))  # the 2018 sample has a trailing comma


def tencent_recovery(firing: dict[str, Any], after: int = 60) -> dict[str, Any]:
    """The recovery Tencent sends for ``firing``: status 0, a recoverTime ``after`` seconds past its last word."""
    first = datetime.strptime(firing["firstOccurTime"], TENCENT_TIME)
    duration = int(firing.get("durationTime") or 0) + after
    return {**firing, "alarmStatus": "0", "durationTime": duration,
            "recoverTime": (first + timedelta(seconds=duration)).strftime(TENCENT_TIME)}


def firing_of(recovery: dict[str, Any]) -> dict[str, Any]:
    """The notification that preceded a captured recovery: the same alarm, firing, as first reported."""
    return {**recovery, "alarmStatus": "1", "durationTime": 0, "recoverTime": "0"}


def post(bridge: Bridge, vendor: str, body: dict[str, Any] | bytes, content_type: str = "application/json") -> None:
    data = json.dumps(body, ensure_ascii=False).encode() if isinstance(body, dict) else body
    response = bridge.post(vendor, data, content_type)
    assert response.status_code == 200, response.text


def firing(am: Alertmanager, check: Callable[[dict], bool] = lambda alert: True, **labels: str) -> list[dict]:
    """Wait until the alerts with these labels are one active alert that passes ``check``; return them."""
    def one(alerts: list[dict]) -> list[dict] | None:
        return alerts if len(alerts) == 1 and active(alerts) and check(alerts[0]) else None

    return am.wait_for(one, message=f"one alert {labels}", **labels)


def resolved(am: Alertmanager, **labels: str) -> None:
    am.wait_for(lambda alerts: not alerts, message=f"no alert left for {labels}", **labels)


# --- the corpus: each real or documented sample becomes the expected alert, and its recovery resolves it -------
REAL_TENCENT = {
    "real-cvm-mem-firing.json": {
        "alertname": "mem_usage", "vendor": "tencent", "cloud_namespace": "qce/cvm", "region": "sg",
        "policy_id": "policy-8f5m0jo2", "severity": "warning", "unInstanceId": "ins-jis5nk7e",
        "objId": "f49fc905-e8bf-4f00-a62e-a4933958e7e7", "objName": "172.22.0.4#1250000002",
        "deviceName": "gt-omg3sea-gametest-misc-02"},
    "real-cdb-cpu-firing.json": {
        "alertname": "cpu_use_rate", "vendor": "tencent", "cloud_namespace": "qce/cdb", "region": "sg",
        "policy_id": "policy-r9mwiupe", "severity": "warning", "uInstanceId": "cdb-59ds6dfv",
        "objId": "09a82419-aca7-11eb-a85e-0c42a163eabd",
        "objName": "cdb-59ds6dfv(instance name:gt-omg3sea-game-db-03,IP:172.22.0.47:3306)"},
    "doc-2025-metric-multilevel-firing.json": {
        "alertname": "cpu_usage", "vendor": "tencent", "cloud_namespace": "qce/cvm", "region": "gz",
        "policy_id": "policy-n4exeh88", "severity": "info", "unInstanceId": "ins-o9p3rg3m",
        "objId": "xxxxxxxxxxxx"},
}
RECOVERIES = {  # captured (real-…) or constructed recoveries, each after the firing it ends
    "metric-resolved-string-status.json": {
        "alertname": "mem_usage", "vendor": "tencent", "cloud_namespace": "qce/cvm", "region": "hk",
        "policy_id": "policy-1a2b3c4d", "severity": "warning", "unInstanceId": "ins-2a4b6c8d",
        "objId": "5f0e7f9c-6ad1-4a6a-9e61-58c1f1e2f3a4", "objName": "10.0.0.12#1090831"},
    "real-cvm-load-resolved-without-recover-time.json": {
        "alertname": "cpu_load_1", "vendor": "tencent", "cloud_namespace": "qce/cvm", "region": "sg",
        "policy_id": "policy-8f5m0jo2", "severity": "warning", "unInstanceId": "ins-age4ak12",
        "objId": "a1192217-868b-44b6-937a-ec3dfadcba01", "objName": "172.22.0.14#1250000002",
        "deviceName": "gt-omg3sea-misc-01"},
    "real-event-ping-resolved-without-policy-id.json": {  # an event with no policyId: no policy_id label
        "alertname": "ping_unreachable", "vendor": "tencent", "cloud_namespace": "cvm", "region": "hk",
        "severity": "warning", "unInstanceId": "ins-7hw5sju6", "deviceName": "Unnamed33",
        "deviceLanIp": "172.19.0.125", "deviceWanIp": "203.0.113.84", "uniqVpcId": "vpc-lfvj69yw"},
}
DOCUMENTED_TENCENT = {  # older documented samples: their alert is checked by its identifying labels
    "2018-metric-firing.json": {"alertname": "cpu usage", "objId": "xxxxxxxxxxxx"},
    "event-firing.json": {"alertname": "ping_unreachable", "unInstanceId": "ins-pftdvqa2"},
    "event-mysql-firing.json": {"alertname": "ha_switch", "unInstanceId": "cdb-bwieva60"},
    "clb-listener-firing.json": {"alertname": "outtraffic", "objId": "118.25.31.161#443#https"},
    "vpc-bandwidth-firing.json": {"alertname": "out_traffic", "netgroup": "bwp-abc"},
}


@pytest.mark.parametrize("name", sorted(REAL_TENCENT))
def test_a_tencent_sample_becomes_its_alert_and_its_recovery_resolves_it(
        name: str, shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    body = tencent_fixture(name)
    post(bridge, "tencent", body)
    expected = REAL_TENCENT[name]
    [alert] = firing(am, alertname=expected["alertname"], vendor="tencent", objId=expected["objId"])
    assert alert["labels"] == expected
    post(bridge, "tencent", tencent_recovery(body))
    resolved(am, alertname=expected["alertname"], objId=expected["objId"])


def test_the_captured_tencent_recovery_resolves_the_captured_alarm(shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    post(bridge, "tencent", tencent_fixture("real-cvm-disk-firing.json"))
    [alert] = firing(am, alertname="disk_usage", unInstanceId="ins-4ap7abk6")
    assert alert["labels"] == {
        "alertname": "disk_usage", "vendor": "tencent", "cloud_namespace": "qce/cvm", "region": "hk",
        "policy_id": "policy-9dz6qbwy", "severity": "warning", "unInstanceId": "ins-4ap7abk6",
        "objId": "dc2df8c0-e7a8-4f03-ac06-94fb93a427d5", "objName": "172.19.0.34#1250000001",
        "deviceName": "Unnamed1"}
    assert alert["annotations"]["current_value"] == "96.739 %"
    post(bridge, "tencent", tencent_fixture("real-cvm-disk-resolved.json"))
    resolved(am, alertname="disk_usage", unInstanceId="ins-4ap7abk6")


@pytest.mark.parametrize("name", sorted(RECOVERIES))
def test_a_tencent_recovery_resolves_what_fired(name: str, shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    recovery = tencent_fixture(name)
    expected = RECOVERIES[name]
    post(bridge, "tencent", firing_of(recovery))
    [alert] = firing(am, alertname=expected["alertname"], unInstanceId=expected["unInstanceId"])
    assert alert["labels"] == expected
    post(bridge, "tencent", recovery)
    resolved(am, alertname=expected["alertname"], unInstanceId=expected["unInstanceId"])


@pytest.mark.parametrize("name", sorted(DOCUMENTED_TENCENT))
def test_each_documented_tencent_sample_fires_and_resolves(name: str,
                                                           shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    body = tencent_fixture(name)
    post(bridge, "tencent", body)
    firing(am, vendor="tencent", **DOCUMENTED_TENCENT[name])
    recovery = tencent_recovery(body) if "firstOccurTime" in body else {**body, "alarmStatus": 0}
    if "firstOccurTime" not in body:  # the 2018 format dates the alarm inside alarmPolicyInfo
        recovery["alarmPolicyInfo"] = tencent_recovery(body["alarmPolicyInfo"])
    post(bridge, "tencent", recovery)
    resolved(am, vendor="tencent", **DOCUMENTED_TENCENT[name])


def test_the_chinese_sample_fires_and_resolves(shared_stack: tuple[Alertmanager, Bridge],
                                               start_bridge: Callable[..., Bridge]) -> None:
    """Its object is the multi-level sample's (same ids), whose recovery this module's bridge has recorded:
    a bridge of its own (the same Alertmanager) shows it as a fresh installation would."""
    am, _ = shared_stack
    bridge = start_bridge([am.url])
    body = tencent_fixture("metric-firing-zh.json")
    post(bridge, "tencent", body)
    [alert] = firing(am, alertname="cpu_usage", objId="xxxxxxxxxxxx", severity="warning")
    assert alert["annotations"]["metric_show_name"] == "CPU 利用率"
    post(bridge, "tencent", tencent_recovery(body))
    resolved(am, alertname="cpu_usage", objId="xxxxxxxxxxxx", severity="warning")


def test_kingsoft_documented_alarm_and_restore(shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    post(bridge, "kingsoft", fixture_bytes("kingsoft", "alarm.json"))
    [alert] = firing(am, vendor="kingsoft", host="50fa05d9211b478293744280ac1592ag")
    assert alert["labels"] == {"alertname": "cpu.util", "vendor": "kingsoft", "cloud_namespace": "Eip",
                               "region": "Shanghai Region 2 (VPC)", "policy_id": "8888", "severity": "warning",
                               "host": "50fa05d9211b478293744280ac1592ag", "p1": "cpu1"}
    post(bridge, "kingsoft", fixture_bytes("kingsoft", "restore.json"))
    resolved(am, vendor="kingsoft", host="50fa05d9211b478293744280ac1592ag")


def test_kingsoft_conditions_each_fire_and_each_restore(shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    body = json.loads(fixture_bytes("kingsoft", "two-conditions.json"))
    post(bridge, "kingsoft", body)
    am.wait_for(lambda a: len(active(a)) == 2, message="one alert per condition", instanceId="5d2a8e1c-kec-0001")
    post(bridge, "kingsoft", {**body, "alarmState": 0, "timestamp": body["timestamp"] + 60})
    resolved(am, instanceId="5d2a8e1c-kec-0001")


def test_the_old_alibaba_json_shape_without_a_rule_id_fires_and_resolves(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    """The documented JSON callback has no ``ruleId`` (nor ``namespace``): no ``policy_id`` label, one alert."""
    am, bridge = shared_stack
    body = {"userId": "12345", "alertName": "putNewAlarm_group_a37cd898-ea6b-4b7b-a8a8-de017a8327f6",
            "timestamp": "1508136760", "alertState": "ALARM",
            "dimensions": [{"userId": "12345", "instanceId": "i-oldjson"}],
            "expression": '[{"expression":"$Average>90","level":4,"times":2}]', "curValue": "95",
            "metricName": "CPUUtilization", "metricProject": "acs_ecs"}
    post(bridge, "aliyun", body)
    [alert] = firing(am, vendor="aliyun", instanceId="i-oldjson")
    assert alert["labels"] == {"alertname": "CPUUtilization", "vendor": "aliyun", "cloud_namespace": "acs_ecs",
                               "severity": "warning", "instanceId": "i-oldjson", "userId": "12345"}
    post(bridge, "aliyun", {**body, "alertState": "OK", "timestamp": "1508136820"})
    resolved(am, vendor="aliyun", instanceId="i-oldjson")


# --- one object, one alert: display text and levels that change while an alarm fires --------------------------
def renamed_tencent(instance: str, device_name: str, lan_ip: str, duration: int) -> dict[str, Any]:
    """The captured CVM disk alarm, for another instance, with the given display name and address."""
    body = tencent_fixture("real-cvm-disk-firing.json")
    body["alarmObjInfo"]["dimensions"] = {"unInstanceId": instance, "objId": f"uuid-{instance}",
                                          "deviceName": device_name, "objName": f"{lan_ip}#1250000001"}
    return {**body, "durationTime": duration}


def test_a_renamed_tencent_instance_leaves_no_alert_after_its_recovery(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    post(bridge, "tencent", renamed_tencent("ins-rename01", "web-old", "10.0.0.1", duration=60))
    firing(am, unInstanceId="ins-rename01", deviceName="web-old")
    renamed = renamed_tencent("ins-rename01", "web-new", "10.0.0.2", duration=120)
    post(bridge, "tencent", renamed)
    [alert] = firing(am, lambda a: a["labels"]["deviceName"] == "web-new", unInstanceId="ins-rename01")
    assert alert["labels"]["objName"] == "10.0.0.2#1250000001"  # the old label set was resolved
    post(bridge, "tencent", tencent_recovery(renamed))
    resolved(am, unInstanceId="ins-rename01")


def test_a_renamed_alibaba_instance_leaves_no_alert_after_its_recovery(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    """Alibaba's threshold callback names the instance outside its dimensions (``instanceName``)."""
    am, bridge = shared_stack
    post(bridge, "aliyun", aliyun("i-rename01", timestamp_ms=1_700_000_000_000), FORM)
    firing(am, vendor="aliyun", instanceId="i-rename01")
    renamed = aliyun("i-rename01", timestamp_ms=1_700_000_060_000).replace(b"web-i-rename01", b"web-renamed")
    post(bridge, "aliyun", renamed, FORM)
    firing(am, lambda a: a["annotations"]["instance_name"] == "web-renamed", vendor="aliyun", instanceId="i-rename01")
    post(bridge, "aliyun", aliyun("i-rename01", state="OK", level="OK", timestamp_ms=1_700_000_120_000)
         .replace(b"web-i-rename01", b"web-renamed"), FORM)
    resolved(am, vendor="aliyun", instanceId="i-rename01")


def test_a_kingsoft_policy_renamed_while_firing_leaves_no_alert_after_its_restore(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    """Kingsoft's tags are all ids; its display text (policy name, metric alias) lives in annotations."""
    am, bridge = shared_stack
    post(bridge, "kingsoft", kingsoft("host-rename01", timestamp=1_700_000_000))
    firing(am, vendor="kingsoft", host="host-rename01")
    renamed = kingsoft("host-rename01", timestamp=1_700_000_060).replace(b'"test11"', b'"renamed policy"')
    post(bridge, "kingsoft", renamed.replace(b'"CPU utilization"', b'"CPU usage"'))
    firing(am, lambda a: "renamed policy" in a["annotations"]["description"], vendor="kingsoft", host="host-rename01")
    post(bridge, "kingsoft", kingsoft("host-rename01", state=0, timestamp=1_700_000_120).replace(
        b'"test11"', b'"renamed policy"'))
    resolved(am, vendor="kingsoft", host="host-rename01")


def test_a_tencent_level_change_leaves_one_alert_and_the_recovery_resolves_it(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    body = renamed_tencent("ins-level01", "db-1", "10.0.1.1", duration=60)
    post(bridge, "tencent", {**body, "sessionId": "lvl", "alertId": "lvl_Remind"})
    firing(am, unInstanceId="ins-level01", severity="info")
    serious = {**body, "sessionId": "lvl", "alertId": "lvl_Serious", "durationTime": 120}
    post(bridge, "tencent", serious)
    alerts = am.wait_for(lambda a: [x["labels"]["severity"] for x in active(a)] == ["critical"] and a,
                         message="only the Serious level firing", unInstanceId="ins-level01")
    assert len(active(alerts)) == 1
    post(bridge, "tencent", tencent_recovery(serious))
    resolved(am, unInstanceId="ins-level01")
