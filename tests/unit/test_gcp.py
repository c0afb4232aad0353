"""Google Cloud Monitoring webhooks: every era's incident, the test notification, and the object identity
that lets a close resolve exactly what its open fired."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.store.sqlite import SqliteStore
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
        "team": "platform", "user_label_1": "important label", "user_label_2": "another label",
        "incident_id": "0.opqiw61fsv7p"}
    assert alarm.details["observed_value"] == "0.962" and alarm.details["threshold_value"] == "0.9"
    assert alarm.details["incident_id"] == "0.opqiw61fsv7p"
    assert alarm.console_url.startswith("https://console.cloud.google.com/monitoring/alerting/incidents/")
    assert alarm.summary.startswith("CPU utilization for internal-project")


def test_the_close_resolves_the_object_its_open_fired_whatever_display_labels_changed() -> None:
    opened = parse(fixture_bytes("gcp", "gke-cpu-critical-open.json"))
    closed = parse(fixture_bytes("gcp", "doc-gke-cpu-closed.json"))
    assert closed.state is AlarmState.RESOLVED and closed.resolved_at == 1577877071.0
    # the stored pair as it is: Google's documented close carries no metric labels, the open does
    assert key(closed) == key(opened), "incident_id ties the open and the close"
    # metadata and policy user labels (editable while open) and the severity are not the object
    edited = sample("gke-cpu-critical-open.json")
    edited["incident"]["metadata"]["user_labels"]["team"] = "storage"
    edited["incident"]["severity"] = "Warning"
    assert key(parse(edited)) == key(opened)
    renamed = sample("gke-cpu-critical-open.json")
    renamed["incident"]["condition_name"] = "CPU above 90%"
    renamed["incident"]["policy_name"] = "Renamed policy"
    assert key(parse(renamed)) == key(opened), "names are display, whatever era the payload is of"


def test_a_renamed_policy_without_ids_or_metric_is_still_the_incident_it_opened() -> None:
    """The 2020 uptime check: no ``condition`` (so no policy id) and no metric, so its alert is named after
    the policy, which a user may rename while the incident is open."""
    opened = parse(fixture_bytes("gcp", "uptime-check-open.json"))
    closed = sample("uptime-check-closed.json")
    closed["incident"].update(policy_name="api - users (renamed)", condition_name="Uptime check (renamed)")
    assert key(parse(closed)) == key(opened)


def test_each_incident_is_its_own_alert_even_on_one_time_series() -> None:
    """GCP opens one incident per time series: the same policy and resource with other metric labels is
    another incident; a later incident on the same series is another one too (another ``incident_id``), so a
    late close of the first can never resolve it."""
    opened = parse(fixture_bytes("gcp", "cloud-function-log-entries-open.json"))
    other_series = sample("cloud-function-log-entries-open.json")
    other_series["incident"]["metric"]["labels"]["log"] = "cloudfunctions.googleapis.com/other"
    other_series["incident"]["incident_id"] = "0.other"
    assert key(parse(other_series)) != key(opened)
    later = sample("cloud-function-log-entries-open.json")
    later["incident"].update(incident_id="0.later", started_at=1668799999)
    assert key(parse(later)) != key(opened)
    assert labels(parse(later)) != labels(opened), "two incidents never share a label set (and so an alert)"
    assert labels(opened)["incident_id"] == "0.mp9ojt5e6800"


@pytest.mark.parametrize("incident_id", ["0.other", None])
def test_another_instance_or_condition_is_another_alert(incident_id: str | None) -> None:
    """Another incident (Google gives it another id); without an id, another object by its labels."""
    def variant(change) -> dict[str, Any]:
        body = sample("gke-cpu-critical-open.json")
        change(body["incident"])
        if incident_id is None:
            body["incident"].pop("incident_id")
        else:
            body["incident"]["incident_id"] = incident_id
        return body

    opened = parse(sample("gke-cpu-critical-open.json") if incident_id else variant(lambda i: None))
    other = variant(lambda i: i["resource"]["labels"].update(instance_id="99999"))
    assert key(parse(other)) != key(opened)
    other = variant(lambda i: i["condition"].update(name=i["condition"]["name"][:-1] + "0"))
    assert key(parse(other)) != key(opened)
    other = variant(lambda i: i["metric"]["labels"].update(instance_name="another"))
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


# --- through the app: stored open/close pairs posted as they are -------------------------------------


def post(client: FlaskClient, body: bytes | dict[str, Any]) -> None:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    response = client.post("/callbacks/gcp", data=raw, content_type="application/json")
    assert response.status_code == 200, response.text


def firing(store: SqliteStore) -> list[dict[str, str]]:
    return [s.alert.labels for s in store.active("", 100, time.time(), 0) if s.alert.state is AlarmState.FIRING]


def test_the_stored_open_and_its_documented_close_posted_unchanged_resolve(client: FlaskClient,
                                                                          store: SqliteStore) -> None:
    post(client, fixture_bytes("gcp", "gke-cpu-critical-open.json"))
    [opened] = firing(store)
    assert opened["instance_name"] == "gke-cluster-1-default-pool-e2df4cbd-dgp3"
    post(client, fixture_bytes("gcp", "doc-gke-cpu-closed.json"))
    assert firing(store) == [], "Google's close (no metric labels) resolves the incident its open fired"
    post(client, fixture_bytes("gcp", "gke-cpu-critical-open.json"))
    assert firing(store) == [], "a retry of the open after its close does not resurrect it"
    assert store.stats([], 0).total == 1, "the close resolved the open's alert and stored no other"


def test_a_policy_renamed_while_its_incident_was_open_is_still_resolved(client: FlaskClient,
                                                                        store: SqliteStore) -> None:
    post(client, fixture_bytes("gcp", "uptime-check-open.json"))
    assert [a["alertname"] for a in firing(store)] == ["api - noc - users"]
    closed = sample("uptime-check-closed.json")
    closed["incident"].update(policy_name="api - users (renamed)", condition_name="Uptime check (renamed)")
    post(client, closed)
    assert firing(store) == []


def test_a_late_close_of_an_earlier_incident_leaves_the_next_one_on_the_series_firing(
        client: FlaskClient, store: SqliteStore) -> None:
    first = sample("gke-cpu-critical-open.json")
    first_close = sample("doc-gke-cpu-closed.json")
    second = sample("gke-cpu-critical-open.json")
    second["incident"].update(incident_id="0.second", started_at=1577880000)
    second_close = sample("doc-gke-cpu-closed.json")
    second_close["incident"].update(incident_id="0.second", started_at=1577880000, ended_at=1577890000)
    post(client, first)
    post(client, second)  # the first's close is late (or lost)
    assert {a["incident_id"] for a in firing(store)} == {"0.opqiw61fsv7p", "0.second"}
    post(client, first_close)
    assert [a["incident_id"] for a in firing(store)] == ["0.second"]
    post(client, second_close)
    assert firing(store) == []


def test_two_series_of_one_policy_and_resource_are_two_alerts_each_closed_by_its_own(
        client: FlaskClient, store: SqliteStore) -> None:
    one = sample("cloud-function-log-entries-open.json")
    two = sample("cloud-function-log-entries-open.json")
    two["incident"]["metric"]["labels"]["log"] = "cloudfunctions.googleapis.com/other"
    two["incident"]["incident_id"] = "0.two"
    post(client, one)
    post(client, two)
    assert len(firing(store)) == 2
    closed = sample("cloud-function-log-entries-open.json")
    closed["incident"].update(state="closed", ended_at=1668799999)
    closed["incident"]["metric"].pop("labels")
    post(client, closed)
    assert [a["log"] for a in firing(store)] == ["cloudfunctions.googleapis.com/other"]
