"""Annotation templates: Jinja2 in a sandbox, with labels, annotations and the vendor payload."""

from __future__ import annotations

import logging
import time

import pytest

from bridge.mapping.limits import Limits
from bridge.metrics import Metrics
from bridge.model import Alarm, AlarmState, Alert
from bridge.pipeline import to_alerts
from bridge.rules import Rules
from bridge.settings import ConfigError
from bridge.vendors import VENDORS, ParseContext
from tests.harness.fixtures import fixture_bytes
from tests.harness.rules import rules

NOW = time.time()
METRICS = Metrics()


def alarm(vendor: str, fixture: str) -> Alarm:
    content_type = "application/json" if fixture.endswith(".json") else "application/x-www-form-urlencoded"
    return VENDORS[vendor].parse(fixture_bytes(vendor, fixture), content_type, ParseContext(now=NOW)).alarms[0]


def mapped(rule_set: Rules, one: Alarm) -> Alert:
    """The alert ``serve`` would make of the alarm under these rules, template errors counted in METRICS."""
    [alert] = to_alerts([one], rule_set, Limits(), NOW, METRICS.count_template_error)
    return alert


def errors(annotation: str) -> float:
    return METRICS.registry.get_sample_value("cloud_alarm_bridge_template_errors_total",
                                             {"annotation": annotation}) or 0.0


def test_it_renders_labels_annotations_and_the_vendor_payload() -> None:
    templated = rules({"annotation_templates": {
        "summary": "[{{ labels.severity }}] {{ annotations.summary }}",
        "runbook_url": "https://runbooks.example.com/{{ vendor }}/{{ labels.alertname }}",
        "policy": "{{ payload.alarmPolicyInfo.policyName }} ({{ state }})",
    }})
    alert = mapped(templated, alarm("tencent", "metric-firing.json"))
    assert alert.annotations["summary"] == "[warning] CPU utilization on 172.21.30.15#588789: 100% (> 90%)"
    assert alert.annotations["runbook_url"] == "https://runbooks.example.com/tencent/cpu_usage"
    assert alert.annotations["policy"] == "test (firing)"
    assert alert.annotations["description"] == "Tencent Cloud policy test: CPU utilization on 172.21.30.15#588789"


def test_templates_see_the_labels_after_relabeling() -> None:
    templated = rules({
        "vendors": {"tencent": {"alert_relabel_configs": [{"source_labels": ["objName"], "target_label": "instance"}]}},
        "annotation_templates": {"summary": "{{ labels.instance }} is busy"},
    })
    alert = mapped(templated, alarm("tencent", "metric-firing.json"))
    assert alert.annotations["summary"] == "172.21.30.15#588789 is busy"


def test_the_aliyun_payload_is_the_form_without_its_signature() -> None:
    parsed = alarm("aliyun", "apigateway-insufficient-data.form")
    assert parsed.raw["alertState"] == "INSUFFICIENT_DATA"
    assert "signature" not in parsed.raw
    alert = mapped(rules({"annotation_templates": {"rule": "{{ payload.ruleId }}"}}), parsed)
    assert alert.annotations["rule"] == "rule-5xx-0001"


def test_the_payload_is_neither_compared_nor_printed() -> None:
    one = alarm("kingsoft", "alarm.json")
    other = Alarm(**{**vars(one), "raw": {"different": "payload"}})
    assert one == other
    assert "raw" not in repr(one)


def test_a_failing_template_keeps_the_default_text_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    templated = rules({"annotation_templates": {"summary": "{{ labels.no_such_label }} down"}})
    before = errors("summary")
    with caplog.at_level(logging.WARNING, logger="bridge.rules.templates"):
        alert = mapped(templated, alarm("tencent", "metric-firing.json"))
    assert alert.annotations["summary"] == "CPU utilization on 172.21.30.15#588789: 100% (> 90%)"
    assert errors("summary") == before + 1
    assert "no_such_label" in caplog.records[-1].error


def test_a_failing_template_for_a_new_annotation_leaves_it_out() -> None:
    templated = rules({"annotation_templates": {"runbook_url": "{{ payload.nothing.here }}"}})
    alert = mapped(templated, alarm("kingsoft", "alarm.json"))
    assert "runbook_url" not in alert.annotations


def test_missing_values_can_be_defaulted() -> None:
    templated = rules({"annotation_templates": {
        "owner": "{{ labels.team | default('unowned') }} / {{ labels.get('cluster', '-') }}"}})
    assert mapped(templated, alarm("kingsoft", "alarm.json")).annotations["owner"] == "unowned / -"


def test_the_sandbox_refuses_unsafe_attributes() -> None:
    templated = rules({"annotation_templates": {"summary": "{{ labels.__class__.__mro__ }}"}})
    before = errors("summary")
    alert = mapped(templated, alarm("kingsoft", "alarm.json"))
    assert "class" not in alert.annotations["summary"]
    assert errors("summary") == before + 1


def test_an_empty_result_leaves_the_annotation_out() -> None:
    templated = rules({"annotation_templates": {
        "description": "{% if labels.severity == 'critical' %}page someone{% endif %}"}})
    assert "description" not in mapped(templated, alarm("kingsoft", "alarm.json")).annotations


def test_recoveries_are_templated_too() -> None:
    templated = rules({"annotation_templates": {"summary": "{{ state }}: {{ labels.alertname }}"}})
    alert = mapped(templated, alarm("tencent", "metric-resolved.json"))
    assert alert.state is AlarmState.RESOLVED
    assert alert.annotations["summary"] == "resolved: cpu_usage"


@pytest.mark.parametrize(("templates", "message"), [
    ({"summary": "{{ labels.x }"}, "test.yml: annotation_templates.summary: template syntax error at line 1: "
                                   "unexpected '}'"),
    ({"summary": "line one\n{% if %}"}, "test.yml: annotation_templates.summary: template syntax error at line 2"),
    ({"runbook-url": "x"}, "test.yml: annotation_templates.runbook-url: 'runbook-url' is not a valid annotation name"),
    ({"__x": "x"}, "test.yml: annotation_templates.__x: '__x' is not a valid annotation name"),
    ({"summary": ["x"]}, "test.yml: annotation_templates.summary: must be a string"),
])
def test_it_refuses_bad_templates_when_loading(templates: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        rules({"annotation_templates": templates})
    assert message in str(error.value)
