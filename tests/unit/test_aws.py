"""CloudWatch alarms in SNS envelopes (bridge/vendors/aws.py): the alert each real shape becomes, and its identity."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.run.supervisor import warn_about_topics
from bridge.settings import Settings
from bridge.vendors import VENDORS, ParseContext
from tests.harness.fixtures import FIXTURES, fixture_bytes

NOW = 1_800_000_000.0
CTX = ParseContext(now=NOW)
AWS = VENDORS["aws"]


def envelope(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("aws", name))


def message(name: str) -> dict[str, Any]:
    return json.loads(envelope(name)["Message"])


def with_message(name: str, **changes: Any) -> bytes:
    body = envelope(name)
    body["Message"] = json.dumps({**message(name), **changes})
    return json.dumps(body).encode()


def alert(body: bytes):
    parsed = AWS.parse(body, "text/plain", CTX)
    assert len(parsed.alarms) == 1, parsed
    return parsed.alarms[0], to_alert(parsed.alarms[0], MappingOptions(), NOW)


def test_an_alarm_without_alarm_arn_takes_its_region_from_the_topic() -> None:
    alarm, mapped = alert(fixture_bytes("aws", "alerta-s3-bucket-size-alarm.json"))
    assert alarm.state is AlarmState.FIRING
    assert mapped.labels == {
        "alertname": "bucketbytesAlarm", "vendor": "aws", "cloud_namespace": "AWS/S3", "region": "eu-west-1",
        "policy_id": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:bucketbytesAlarm", "severity": "warning",
        "BucketName": "try.alerta.io", "StorageType": "StandardStorage", "account_id": "123456789012"}
    assert mapped.annotations["region_name"] == "EU (Ireland)"
    assert mapped.starts_at == pytest.approx(1550274825.093)


def test_a_metric_math_alarm_takes_its_metric_and_dimensions_from_trigger_metrics() -> None:
    _, mapped = alert(fixture_bytes("aws", "lambda-go-metric-math-alarm.json"))
    assert mapped.labels["InstanceId"] == "TestInstance" and mapped.labels["cloud_namespace"] == "AWS/EC2"
    assert mapped.annotations["metric_name"] == "NetworkOut" and mapped.annotations["expressions"] == "e1=m1*1"
    assert mapped.labels["region"] == "us-east-1", "the ARN's placeholder REGION is no region: the topic's is used"


def test_a_composite_alarm_is_one_alert_with_its_rule() -> None:
    _, mapped = alert(fixture_bytes("aws", "rheoceros-composite-alarm.json"))
    assert mapped.labels["alertname"].endswith("test_node_monitor") and "cloud_namespace" not in mapped.labels
    assert mapped.annotations["alarm_rule"].startswith("ALARM(arn:aws:cloudwatch:us-east-1:")


def test_ok_resolves_the_alarm_and_insufficient_data_replaces_it() -> None:
    firing = alert(with_message("lambda-errors-ok.json", NewStateValue="ALARM"))[1]
    ok = alert(fixture_bytes("aws", "lambda-errors-ok.json"))[1]
    insufficient = alert(with_message("lambda-errors-ok.json", NewStateValue="INSUFFICIENT_DATA"))[1]
    assert ok.state is AlarmState.RESOLVED and firing.state is AlarmState.FIRING
    assert insufficient.state is AlarmState.FIRING and insufficient.labels["alarm_state"] == "insufficient_data"
    assert firing.object_key == ok.object_key == insufficient.object_key, "one alert per alarm, whatever its state"


def test_dimension_order_and_the_region_display_name_do_not_change_the_identity() -> None:
    name = "waf-blocked-requests-alarm.json"
    trigger = message(name)["Trigger"]
    reordered = with_message(name, Region="EU - Ireland",
                             Trigger={**trigger, "Dimensions": trigger["Dimensions"][::-1]})
    assert alert(reordered)[1].object_key == alert(fixture_bytes("aws", name))[1].object_key


def test_two_accounts_alarms_of_one_name_are_two_alerts() -> None:
    name = "alerta-s3-bucket-size-alarm.json"
    other = envelope(name)
    other["TopicArn"] = other["TopicArn"].replace("123456789012", "210987654321")
    other["Message"] = json.dumps({**message(name), "AWSAccountId": "210987654321"})
    assert alert(json.dumps(other).encode())[1].object_key != alert(fixture_bytes("aws", name))[1].object_key


def test_a_bad_state_is_a_clear_400_and_a_non_alarm_is_ignored() -> None:
    with pytest.raises(InvalidPayload, match="NewStateValue: must be ALARM, OK or INSUFFICIENT_DATA"):
        AWS.parse(with_message("lambda-errors-ok.json", NewStateValue="BROKEN"), "text/plain", CTX)
    with pytest.raises(InvalidPayload, match="Type: must be one of"):
        AWS.parse(b'{"alarmStatus": 1}', "application/json", CTX)
    with pytest.raises(UnsupportedMediaType):
        AWS.parse(fixture_bytes("aws", "lambda-errors-ok.json"), "application/x-www-form-urlencoded", CTX)
    parsed = AWS.parse(fixture_bytes("aws", "other/docs-hello-world-notification.json"), "text/plain", CTX)
    assert parsed.alarms == [] and "not a CloudWatch alarm" in parsed.ignored


def test_translate_says_on_stderr_that_it_did_not_check_the_signature(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "aws", str(FIXTURES / "aws" / "waf-blocked-requests-alarm.json")]) == 0
    out, err = capsys.readouterr()
    assert "NOT checked" in err
    assert json.loads(out)[0]["labels"]["WebACL"] == "project-general-alb-project"


def test_translate_of_a_confirmation_shows_no_alert_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(FIXTURES / "aws" / "handshakes" / "alerta-subscription-confirmation.json")
    assert main(["translate", "aws", str(path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [] and "SubscriptionConfirmation carries no alarm" in err


def test_serve_warns_at_start_when_any_topic_is_accepted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warn_about_topics(Settings())
        warned = [r.vendors for r in caplog.records if r.message.startswith("no --allow-topic")]
        warn_about_topics(Settings(allow_topics={"aws": ("arn:aws:sns:*:123456789012:*",),
                                                 "huawei": ("urn:smn:*:0a1b2c3d4e5f40718293a4b5c6d7e8f9:*",)}))
    assert warned == [["aws"]] or "aws" in warned[0]
    assert len([r for r in caplog.records if r.message.startswith("no --allow-topic")]) == len(warned)


def test_an_alarm_name_with_a_lone_surrogate_still_becomes_an_alert() -> None:
    """Found by the hostile fuzz: the console link quoted the name as UTF-8 and raised (a 500)."""
    _, mapped = alert(with_message("lambda-errors-ok.json", AlarmName="cpu\ud800", NewStateValue="ALARM"))
    assert mapped.generator_url.endswith("#alarmsV2:alarm/cpu%3F")
