"""Huawei Cloud Eye alarms in SMN envelopes: both message shapes, their recoveries, events and identity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.cli import main
from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import ParseContext
from bridge.vendors.huawei import EVENT_TTL, VENDOR, alarm_time, parse_dimension, topic_region
from tests.harness.fixtures import FIXTURES, fixture_bytes, sample_paths

NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
CTX = ParseContext(now=NOW)


def parse(body: bytes | dict, content_type: str = "application/json"):
    raw = json.dumps(body, ensure_ascii=False).encode() if isinstance(body, dict) else body
    return VENDOR.parse(raw, content_type, CTX)


def envelope(name: str) -> dict:
    return json.loads(fixture_bytes("huawei", name))


def with_message(name: str, change) -> dict:
    """A fixture's envelope with its ``message`` (decoded) changed by ``change``."""
    body = envelope(name)
    message = json.loads(body["message"])
    change(message)
    return {**body, "message": json.dumps(message, ensure_ascii=False)}


def at(text: str, hours: int) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone(timedelta(hours=hours))).timestamp()


@pytest.mark.parametrize("path", sample_paths("huawei"), ids=lambda p: p.name)
def test_every_sample_becomes_one_alarm_on_its_resource(path) -> None:
    [alarm] = VENDOR.parse(path.read_bytes(), "application/json", CTX).alarms
    assert alarm.vendor == "huawei"
    assert alarm.dimensions["resource_id"]
    assert alarm.region
    assert alarm.state is (AlarmState.RESOLVED if "resolved" in path.name else AlarmState.FIRING)


def test_it_reads_the_json_template_shape() -> None:
    callback = parse(fixture_bytes("huawei", "template-dcs-firing.json"))
    [alarm] = callback.alarms
    assert callback.reply == {"status": "ok"}
    assert alarm.name == "每秒并发操作数"
    assert alarm.state is AlarmState.FIRING
    assert alarm.started_at == at("2025-06-02 22:56:15", 8)
    assert alarm.severity == "critical"  # 紧急
    assert alarm.region == "cn-east-3"  # the resource's region, not the topic's (cn-north-4)
    assert alarm.namespace == "分布式缓存服务"
    assert alarm.dimensions == {"resource_id": "3dc7b9ea-70b4-4c38-942d-e2636e6d844c", "resource_name": "dcs-h4tv"}
    assert alarm.details["current_value"] == "6.00 count"
    assert alarm.details["threshold"] == "原始值 > 5 count"
    assert alarm.details["alarm_level"] == "紧急"
    assert alarm.summary == "每秒并发操作数 on dcs-h4tv: 6.00 count"
    assert "signature" not in alarm.raw and alarm.raw["message"]["data"]["ResourceName"] == "dcs-h4tv"


def test_a_json_template_recovery_resolves_at_its_alarm_time() -> None:
    [alarm] = parse(fixture_bytes("huawei", "template-dcs-resolved.json")).alarms
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.resolved_at == at("2025-06-02 23:06:15", 8)


def test_it_reads_the_default_shape() -> None:
    [alarm] = parse(fixture_bytes("huawei", "default-rds-firing.json")).alarms
    assert alarm.name == "rds039_disk_util"
    assert alarm.namespace == "SYS.RDS"
    assert alarm.policy_id == "al1651967846367MVO1yKvWy"
    assert alarm.started_at == 1651998061.184  # `time`, milliseconds
    assert alarm.severity == "warning"  # Major
    assert alarm.region == "eu-de"  # from the topic URN: the default shape's Region is a display name
    assert alarm.dimensions == {"rds_instance_id": "9a22c728f48142f88339dc5bfa06d592no01",
                                "resource_id": "9a22c728f48142f88339dc5bfa06d592no01",
                                "resource_name": "my-rds-ha_node0"}
    assert alarm.description.startswith("[eu-de][Major Alarm]Dear customer")
    assert alarm.details["threshold"] == "Avg. >= 12.00%"


def test_a_default_shape_recovery_resolves_its_alarm() -> None:
    firing, = parse(fixture_bytes("huawei", "default-rds-firing.json")).alarms
    resolved, = parse(fixture_bytes("huawei", "default-rds-resolved.json")).alarms
    assert resolved.state is AlarmState.RESOLVED and resolved.resolved_at == 1651998961.184
    key = to_alert(firing, MappingOptions(), NOW).object_key
    assert to_alert(resolved, MappingOptions(), NOW).object_key == key


def test_insufficient_data_fires_with_its_state_label() -> None:
    body = with_message("default-rds-firing.json", lambda m: m.update(alarm_status="insufficient_data"))
    [alarm] = parse(body).alarms
    assert alarm.state is AlarmState.FIRING and alarm.alarm_state == "insufficient_data"


def test_one_rule_on_two_resources_gives_two_alerts_and_a_rename_keeps_one() -> None:
    """``alarm_id`` names the rule: the resource must be part of the object, its display name must not."""
    def keyed(change) -> str:
        [alarm] = parse(with_message("default-rds-firing.json", change)).alarms
        return to_alert(alarm, MappingOptions(), NOW).object_key

    same = keyed(lambda m: None)
    other = keyed(lambda m: (m.update(dimension="rds_instance_id:other-instance"),
                             m["template_variable"].update(ResourceId="other-instance")))
    renamed = keyed(lambda m: m["template_variable"].update(ResourceName="renamed"))
    assert other != same
    assert renamed == same


def test_an_event_alarm_resolves_itself() -> None:
    def event(m: dict) -> None:
        m["data"]["EventContent"] = '{"event_name": "startAutoRecovery"}'

    [alarm] = parse(with_message("template-dcs-firing.json", event)).alarms
    assert alarm.state is AlarmState.FIRING
    assert alarm.expires_at == alarm.started_at + EVENT_TTL
    [without_flag] = parse(with_message("template-dcs-firing.json", lambda m: (event(m), m["data"].pop("IsAlarm")))
                           ).alarms
    assert without_flag.state is AlarmState.FIRING  # an event has no recovery to be mistaken for
    [default_event] = parse(with_message("default-rds-firing.json", lambda m: m.update(message_type="event"))).alarms
    assert default_event.expires_at == default_event.started_at + EVENT_TTL
    [metric] = parse(fixture_bytes("huawei", "template-dcs-firing.json")).alarms
    assert metric.expires_at is None


@pytest.mark.parametrize(("level", "severity"), [("Critical", "critical"), ("紧急", "critical"), ("Major", "warning"),
                                                  ("次要", "warning"), ("Informational", "info"), ("提示", "info"),
                                                  ("unknown", "")])
def test_severity_follows_the_alarm_level(level: str, severity: str) -> None:
    [alarm] = parse(with_message("template-dcs-firing.json", lambda m: m["data"].update(AlarmLevel=level))).alarms
    assert alarm.severity == severity


def test_handshakes_carry_no_alarm() -> None:
    for kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        callback = parse({**envelope("template-dcs-firing.json"), "type": kind})
        assert callback.alarms == [] and kind in callback.ignored


@pytest.mark.parametrize("message", ["Hello from the SMN console", '{"enterpriseProjectId": "0", "eventType": 1}',
                                     "{[1]", "{not json at all", "{" * 500 + "}" * 500])
def test_a_message_that_is_no_cloud_eye_alarm_is_ignored_not_refused(message: str) -> None:
    """It is authentic (serve checked the signature): a 4xx would make SMN retry and blacklist the URL,
    whether the text is plain, other JSON, or only looks like JSON (as AWS answers the same)."""
    callback = parse({**envelope("template-dcs-firing.json"), "message": message})
    assert callback.alarms == [] and "not a Cloud Eye alarm" in callback.ignored
    assert callback.reply == {"ignored": callback.ignored}


@pytest.mark.parametrize("is_alarm", [True, False, "true", "False", "TRUE"])
def test_is_alarm_is_read_as_a_bool_or_a_string(is_alarm: bool | str) -> None:
    [alarm] = parse(with_message("template-dcs-firing.json", lambda m: m["data"].update(IsAlarm=is_alarm))).alarms
    firing = str(is_alarm).lower() == "true"
    assert alarm.state is (AlarmState.FIRING if firing else AlarmState.RESOLVED)


@pytest.mark.parametrize("change", [lambda d: d.pop("IsAlarm"), lambda d: d.update(IsAlarm=None),
                                    lambda d: d.update(IsAlarm="yes"), lambda d: d.update(IsAlarm=1),
                                    lambda d: d.update(IsAlarm="")], ids=["missing", "null", "yes", "1", "empty"])
def test_a_metric_alarm_without_a_readable_is_alarm_is_refused_not_resolved(change) -> None:
    """A user may edit the JSON template: one that drops or renames ``IsAlarm`` must not turn every alarm
    into a recovery with a 200."""
    with pytest.raises(InvalidPayload, match=r"^message\.data\.IsAlarm: must be true or false"):
        parse(with_message("template-dcs-firing.json", lambda m: change(m["data"])))


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.update(type="Other"), "type: must be one of Notification"),
    (lambda b: b.pop("type"), "type: missing"),
    (lambda b: b.update(message='{"alarm_status": "firing"}'), "message.alarm_status: must be alarm, ok"),
    (lambda b: b.update(message='{"version": "v1"}'), "message.data: missing"),
    (lambda b: b.update(message='{"alarm_status": "alarm"}'), "message.metric_name: missing"),
])
def test_it_names_what_is_wrong(change, message: str) -> None:
    body = envelope("default-rds-firing.json")
    change(body)
    with pytest.raises(InvalidPayload, match=message):
        parse(body)


def test_it_refuses_forms() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse(fixture_bytes("huawei", "default-rds-firing.json"), "application/x-www-form-urlencoded")


def test_an_unreadable_alarm_time_falls_back_to_when_smn_sent_it() -> None:
    [alarm] = parse(with_message("template-dcs-firing.json", lambda m: m["data"].update(AlarmTime="soon"))).alarms
    assert alarm.started_at == datetime(2025, 6, 2, 14, 56, 17, tzinfo=UTC).timestamp()
    assert alarm.details["vendor_time_unparsed"] == "AlarmTime=soon"


@pytest.mark.parametrize(("raw", "expected"), [
    ("2025/06/02 22:56:15 GMT+08:00", at("2025-06-02 22:56:15", 8)),
    ("2024/08/0514:45:16GMT+08:00", at("2024-08-05 14:45:16", 8)),  # as a published preview shows it
    ("05 08, 2022 10:21:01 GMT+02:00", at("2022-05-08 10:21:01", 2)),
    ("2025/13/02 22:56:15 GMT+08:00", None),
])
def test_alarm_times_carry_their_own_offset(raw: str, expected: float | None) -> None:
    assert alarm_time(raw, "AlarmTime", {}) == expected


def test_dimensions_and_topic_regions() -> None:
    assert parse_dimension("instance_id:abc,mount_point:/data:x") == {"instance_id": "abc", "mount_point": "/data:x"}
    assert parse_dimension("nonsense") == {}
    assert topic_region("urn:smn:ap-southeast-1:0a1b:CES_group") == "ap-southeast-1"
    assert topic_region("arn:aws:sns:x") == ""


def test_translate_shows_the_alerts_and_says_it_checked_no_signature(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "huawei", str(FIXTURES / "huawei" / "default-rds-firing.json")]) == 0
    printed = capsys.readouterr()
    [alert] = json.loads(printed.out)
    assert alert["labels"]["alertname"] == "rds039_disk_util"
    assert "signature" in printed.err and "NOT checked" in printed.err


def test_translate_says_why_a_confirmation_carries_no_alert(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "huawei", str(FIXTURES / "huawei" / "signed" / "subscription-confirmation.json")]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out) == [] and "SubscriptionConfirmation, not an alarm" in printed.err
