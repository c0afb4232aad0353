"""Google Cloud Monitoring webhooks: every era's incident, the test notification, and the object identity
that lets a close resolve exactly what its open fired."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import ParseContext
from bridge.vendors.gcp import CONSOLE_URL, TEST_NOTIFICATION_TTL
from bridge.vendors.gcp import VENDOR as gcp
from tests.harness.fixtures import fixture_bytes
from tests.harness.fuzzing import SLOW_SHAPES, pathological

NOW = 1_800_000_000.0
CTX = ParseContext(now=NOW)


def sample(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("gcp", name))


def parse(body: bytes | dict[str, Any]) -> Alarm:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    [alarm] = gcp.parse(raw, "application/json", CTX).alarms
    return alarm


def labels(alarm: Alarm) -> dict[str, str]:
    return to_alert(alarm, MappingOptions(), NOW).labels


def key(alarm: Alarm) -> str:
    return to_alert(alarm, MappingOptions(), NOW).object_key


def test_a_current_metric_incident_becomes_the_alert_a_user_expects() -> None:
    alarm = parse(fixture_bytes("gcp", "gke-cpu-critical-open.json"))
    assert alarm.state is AlarmState.FIRING and alarm.started_at == 1577840461.0
    assert labels(alarm) == {
        "alertname": "compute.googleapis.com/instance/cpu/utilization", "vendor": "gcp",
        "cloud_namespace": "gce_instance", "region": "us-central1", "policy_id": "1234567890123456789",
        "severity": "critical", "condition": "VM Instance - CPU utilization [MAX]",
        "condition_id": "1234567890123456789", "instance_id": "11223344", "project_id": "internal-project",
        "zone": "us-central1-c", "instance_name": "gke-cluster-1-default-pool-e2df4cbd-dgp3", "state": "ACTIVE",
        "team": "platform", "user_label_1": "important label", "user_label_2": "another label"}
    assert alarm.details["observed_value"] == "0.962" and alarm.details["threshold_value"] == "0.9"
    assert alarm.details["incident_id"] == "0.opqiw61fsv7p"
    assert alarm.console_url.startswith("https://console.cloud.google.com/monitoring/alerting/incidents/")
    assert alarm.summary.startswith("CPU utilization for internal-project")


def test_the_close_resolves_the_object_its_open_fired_whatever_display_labels_changed() -> None:
    opened = parse(fixture_bytes("gcp", "gke-cpu-critical-open.json"))
    closed = parse(fixture_bytes("gcp", "doc-gke-cpu-closed.json"))
    assert closed.state is AlarmState.RESOLVED and closed.resolved_at == 1577877071.0
    # the close carries no metric labels in Google's sample; the open's instance_name is a metric label
    without_metric_labels = sample("gke-cpu-critical-open.json")
    without_metric_labels["incident"]["metric"].pop("labels")
    assert key(closed) == key(parse(without_metric_labels))
    # metadata and policy user labels (editable while open) and the severity are not the object
    edited = sample("gke-cpu-critical-open.json")
    edited["incident"]["metadata"]["user_labels"]["team"] = "storage"
    edited["incident"]["severity"] = "Warning"
    assert key(parse(edited)) == key(opened)
    renamed = sample("gke-cpu-critical-open.json")
    renamed["incident"]["condition_name"] = "CPU above 90%"
    assert key(parse(renamed)) == key(opened), "the condition's id identifies it, its name is display"


def test_another_instance_or_condition_is_another_alert() -> None:
    opened = parse(fixture_bytes("gcp", "gke-cpu-critical-open.json"))
    other = sample("gke-cpu-critical-open.json")
    other["incident"]["resource"]["labels"]["instance_id"] = "99999"
    assert key(parse(other)) != key(opened)
    other = sample("gke-cpu-critical-open.json")
    other["incident"]["condition"]["name"] = other["incident"]["condition"]["name"][:-1] + "0"
    assert key(parse(other)) != key(opened)


def test_an_uptime_check_without_a_metric_is_named_after_its_policy_and_its_close_resolves_it() -> None:
    opened = parse(fixture_bytes("gcp", "uptime-check-open.json"))
    closed = parse(fixture_bytes("gcp", "uptime-check-closed.json"))
    assert (opened.name, opened.policy_id, opened.namespace) == ("api - noc - users", "api - noc - users", "uptime_url")
    assert labels(opened)["host"] == "MYHOST" and labels(opened)["condition"] == "Uptime Health Check on api-noc-users"
    assert opened.state is AlarmState.FIRING and closed.state is AlarmState.RESOLVED
    assert key(opened) == key(closed)
    assert opened.severity == ""  # no severity in that era: the configured default


def test_a_log_match_incident_reads_its_region_label_and_policy_id() -> None:
    alarm = parse(fixture_bytes("gcp", "cloud-function-log-entries-open.json"))
    assert (alarm.name, alarm.region, alarm.policy_id) == (
        "logging.googleapis.com/log_entry_count", "us-central1", "1130251226664066904")
    assert alarm.dimensions["log"] == "cloudfunctions.googleapis.com/cloud-functions"
    assert alarm.dimensions["foo"] == "bar"
    assert alarm.details["documentation"] == "some docs here..."


def test_the_test_notification_fires_briefly_with_its_string_documentation() -> None:
    alarm = parse(fixture_bytes("gcp", "test-notification.json"))
    assert alarm.state is AlarmState.FIRING
    assert alarm.started_at == NOW, "its zero times stand for arrival"
    assert alarm.expires_at == NOW + TEST_NOTIFICATION_TTL, "Google never closes it"
    assert alarm.details["documentation"] == "Test documentation"
    assert alarm.console_url == CONSOLE_URL, "its http://www.example.com is no console link"
    assert alarm.policy_id == "12345" and alarm.description.startswith("Google Cloud Monitoring test notification")


@pytest.mark.parametrize(("state", "expected"), [
    ("open", AlarmState.FIRING), ("OPEN", AlarmState.FIRING), ("acknowledged", AlarmState.FIRING),
    ("closed", AlarmState.RESOLVED), ("CLOSED", AlarmState.RESOLVED)])
def test_every_incident_state_in_any_case_is_read(state: str, expected: AlarmState) -> None:
    body = sample("gce-cpu-open.json")
    body["incident"]["state"] = state
    assert parse(body).state is expected


@pytest.mark.parametrize(("severity", "expected"), [
    ("Critical", "critical"), ("ERROR", "critical"), ("Warning", "warning"), ("No severity", ""), (None, "")])
def test_google_severities_map_to_severity_labels(severity: str | None, expected: str) -> None:
    body = sample("gke-cpu-critical-open.json")
    body["incident"]["severity"] = severity
    alarm = parse(body)
    assert alarm.severity == expected
    assert alarm.details.get("gcp_severity", "") == (severity or "")  # the level as Google sent it


def test_a_severity_policy_label_stands_in_for_the_missing_field() -> None:
    body = sample("uptime-check-open.json")
    body["incident"]["policy_user_labels"] = {"severity": "critical"}
    assert parse(body).severity == "critical"


@pytest.mark.parametrize(("field", "value", "where"), [
    ("started_at", "yesterday", "started_at=yesterday"), ("ended_at", "soon", "ended_at=soon")])
def test_an_unreadable_time_falls_back_to_arrival_and_says_so(field: str, value: str, where: str) -> None:
    body = sample("doc-gke-cpu-closed.json")
    body["incident"][field] = value
    alarm = parse(body)
    assert alarm.details["vendor_time_unparsed"] == where
    assert (alarm.started_at if field == "started_at" else alarm.resolved_at) == NOW


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.pop("incident"), "^incident: missing$"),
    (lambda b: b.update(incident=[]), "^incident: must be an object, got array$"),
    (lambda b: b["incident"].pop("state"), "^incident.state: missing$"),
    (lambda b: b["incident"].update(state="exploded"),
     "^incident.state: must be open, acknowledged or closed, got 'exploded'$"),
    (lambda b: (b["incident"].pop("metric"), b["incident"].pop("policy_name")),
     "^incident.metric.type and incident.policy_name: both missing"),
    (lambda b: b["incident"].update(resource="gce"), "^incident.resource: must be an object, got string$"),
])
def test_a_body_that_cannot_become_an_alert_is_refused_naming_the_field(mutate, message: str) -> None:
    body = sample("gce-cpu-open.json")
    mutate(body)
    with pytest.raises(InvalidPayload, match=message):
        parse(body)


def test_only_json_is_accepted() -> None:
    with pytest.raises(UnsupportedMediaType):
        gcp.parse(b"incident=1", "application/x-www-form-urlencoded", CTX)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://exa mple.com/", "ftp://x", "https://" + "a" * 3000])
def test_a_console_link_that_is_no_plain_https_url_is_replaced(url: str) -> None:
    body = sample("gce-cpu-open.json")
    body["incident"]["url"] = url
    assert parse(body).console_url == CONSOLE_URL


@pytest.mark.parametrize("shape", sorted(SLOW_SHAPES))
def test_hostile_text_in_the_fields_read_by_pattern_is_read_in_linear_time(shape: str) -> None:
    for end in ("", "x", "/conditions/1", "-c"):
        value = pathological(shape, 50_000) + end
        body = sample("gke-cpu-critical-open.json")
        incident = body["incident"]
        incident["resource"]["labels"]["zone"] = value
        incident.update(url=value, policy_name="projects/" + value, started_at=value)
        incident["condition"]["name"] = "projects/p/alertPolicies/" + value
        started = time.monotonic()
        parse(body)
        assert time.monotonic() - started < 1
