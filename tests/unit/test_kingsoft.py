"""Kingsoft Cloud callbacks: tag lists, one alert per condition, the vendor's own invalid JSON."""

from __future__ import annotations

import json

import pytest

from bridge.model import AlarmState, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors.kingsoft import VENDOR as kingsoft
from bridge.vendors.kingsoft import parse_tags
from tests.harness.alarms import assert_alarm
from tests.harness.fixtures import fixture_bytes

CTX = ParseContext(now=1_700_000_000.0)


def parse(body: bytes | dict):
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return kingsoft.parse(raw, "application/json", CTX)


def test_it_reads_the_documented_sample_with_its_trailing_comma() -> None:
    [alarm] = parse(fixture_bytes("kingsoft", "alarm.json")).alarms
    assert_alarm(alarm, name="cpu.util", state=AlarmState.FIRING, policy_id="8888", namespace="Eip",
                 region="Shanghai Region 2 (VPC)", started_at=1547092067.0,
                 dimensions={"host": "50fa05d9211b478293744280ac1592ag", "p1": "cpu1"})
    assert alarm.details["current_value"] == "60"
    assert alarm.details["threshold"] == "> 50"


def test_it_reads_a_restore() -> None:
    [alarm] = parse(fixture_bytes("kingsoft", "restore.json")).alarms
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.resolved_at == 1547092367.0


def test_each_condition_becomes_its_own_alarm() -> None:
    alarms = parse(fixture_bytes("kingsoft", "two-conditions.json")).alarms
    assert [a.name for a in alarms] == ["cpu.utilizition.total", "memory.utilizition.total"]
    assert all(a.policy_id == "9001" and a.dimensions == {"instanceId": "5d2a8e1c-kec-0001"} for a in alarms)


@pytest.mark.parametrize(("raw", "expected"), [
    (["host=a", "p1=cpu1"], {"host": "a", "p1": "cpu1"}),
    ("host=a", {"host": "a"}),
    ({"host": "a"}, {"host": "a"}),
    (["justanid"], {"tag": "justanid"}),
    (["k=", "=v", None], {}),
])
def test_it_reads_tags_in_every_shape(raw, expected: dict[str, str]) -> None:
    assert parse_tags(raw) == expected


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: p.pop("alarmState"), "alarmState: missing"),
    (lambda p: p.update(alarmState=2), "alarmState: must be 1 or 0"),
    (lambda p: p["alarmPolicyInfo"].update(conditions=[]), "conditions: missing or empty"),
    (lambda p: p["alarmPolicyInfo"]["conditions"][0].pop("metricName"), r"conditions\[0\].metricName"),
])
def test_it_rejects_what_would_give_an_alert_a_wrong_identity(mutate, message: str) -> None:
    payload = json.loads(fixture_bytes("kingsoft", "restore.json"))
    mutate(payload)
    with pytest.raises(InvalidPayload, match=message):
        parse(payload)


def test_a_restore_with_an_unreadable_timestamp_resolves_at_its_arrival() -> None:
    payload = json.loads(fixture_bytes("kingsoft", "restore.json"))
    payload["timestamp"] = "1547092367s"
    [alarm] = parse(payload).alarms
    assert (alarm.state, alarm.resolved_at) == (AlarmState.RESOLVED, CTX.now)
    assert alarm.details["vendor_time_unparsed"] == "timestamp=1547092367s"
