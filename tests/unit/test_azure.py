"""Azure Monitor common-schema webhooks: every stored sample, how each signal ends, legacy schemas refused."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.mapping.default import MappingOptions, to_alert
from bridge.model import Alarm, AlarmState, Alert, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors.azure import VENDOR as azure
from bridge.vendors.azure.common import CONSOLE_URL, EVENT_TTL, HEALTH_TTL
from tests.harness.fixtures import FIXTURES, fixture_bytes

NOW = 1_800_000_000.0
CTX = ParseContext(now=NOW)
T = "11111111-1111-1111-1111-111111111111"
VM = f"/subscriptions/{T}/resourcegroups/test-rg/providers/microsoft.compute/virtualmachines/test-vm"
WORKSPACE = f"/subscriptions/{T}/resourcegroups/test-rg/providers/microsoft.operationalinsights/workspaces/" \
            "test-loganalyticsworkspace"


def sample(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("azure", name))


def parse(body: dict[str, Any] | bytes) -> list[Alarm]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return azure.parse(raw, "application/json", CTX).alarms


def alert(alarm: Alarm) -> Alert:
    return to_alert(alarm, MappingOptions(), NOW)


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


EXPECTED = {
    # sample: (alertname, state, labels beyond vendor/policy_id/severity, severity)
    "metric-static-fired.json": ("Percentage CPU", "firing", {
        "cloud_namespace": "microsoft.compute/virtualmachines", "ResourceId": "3efad9dc-3d50-4eac-9c87-8b3fd6f97e4e",
        "resource": "wcus-r2-gen2", "resource_group": "pipelinealertrg", "subscription_id": "<subscription ID>",
        "resource_id": "/subscriptions/<subscription id>/resourcegroups/pipelinealertrg/providers/"
                       "microsoft.compute/virtualmachines/wcus-r2-gen2"}, "info"),
    "metric-dynamic-fired.json": ("Transactions", "firing", {
        "cloud_namespace": "microsoft.storage/storageaccounts", "resource": "test-storageAccount",
        "resource_id": f"/subscriptions/{T}/resourcegroups/test-rg/providers/microsoft.storage/storageaccounts/"
                       "test-storageaccount"}, "info"),
    "log-v1-metric-measurement-fired.json": ("test-logAlertRule-v1-metricMeasurement", "firing", {
        "cloud_namespace": "microsoft.operationalinsights/workspaces", "region": "eastus", "resource_id": WORKSPACE},
        "info"),
    "log-v1-numresults-fired.json": ("test-logAlertRule-v1-numResults", "firing", {"resource_id": WORKSPACE}, "info"),
    "log-v2-fired.json": ("test-logAlertRule-v2", "firing", {"Computer": "test-computer", "resource_id": WORKSPACE},
                          "info"),
    "activity-administrative-fired.json": ("Microsoft.Compute/virtualMachines/restart/action", "firing", {
        "resource": "test-VM", "resource_group": "test-RG", "resource_id": VM, "subscription_id": T}, "info"),
    "activity-policy-fired.json": ("Microsoft.Authorization/policies/audit/action", "firing", {
        "region": "eastus2", "resource_id": "/subscriptions/00000000-0000-0000-0000-000000000000"}, "info"),
    "activity-autoscale-fired.json": ("Microsoft.Insights/AutoscaleSettings/Scaleup/Action", "firing", {
        "cloud_namespace": "microsoft.compute/virtualmachinescalesets", "resource": "alexademo"}, "info"),
    "activity-recommendation-fired.json": ("Microsoft.Advisor/recommendations/available/action", "firing", {
        "cloud_namespace": "microsoft.dbformariadb/servers", "resource": "<resource name>"}, "info"),
    "activity-security-fired.json": ("Microsoft.Security/locations/alerts/activate/action", "firing",
                                     {"resource_id": VM}, "info"),
    "service-health-incident-resolved.json": ("ServiceHealth:Incident", "resolved", {
        "tracking_id": "ABC1-DEF", "resource_id": f"/subscriptions/{T}", "subscription_id": T}, "info"),
    "service-health-maintenance-planned.json": ("ServiceHealth:Maintenance", "firing", {
        "tracking_id": "00000000-0000-0000-0000-000000000000"}, "info"),
    "resource-health-unavailable.json": ("ResourceHealth", "firing", {"resource_id": VM, "resource": "test-VM"},
                                         "info"),
    "real-prometheus-fired.json": ("Average node CPU utilization is greater than 80%", "firing", {
        "cloud_namespace": "microsoft.monitor/accounts", "cluster": "aks0001",
        "instance": "aks-agentpool-27465642-vmss000000", "job": "node", "resource": "prom007"}, "info"),
    "smart-detection-fired.json": ("Dependency Latency Degradation - test-applicationInsights", "firing", {
        "cloud_namespace": "microsoft.insights/components", "resource": "test-applicationInsights"}, "info"),
    "budget-actual-cost.json": ("Budget", "firing", {
        "cloud_namespace": "microsoft.consumption/budgets", "threshold_type": "Actual"}, "warning"),
    "metric-static-resolved.json": ("Percentage CPU", "resolved",
                                    {"ResourceId": "3efad9dc-3d50-4eac-9c87-8b3fd6f97e4e"}, "info"),
}


def test_every_stored_sample_has_its_expectation() -> None:
    stored = sorted(path.name for path in (FIXTURES / "azure").glob("*.json"))
    assert stored == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_becomes_the_alert_a_user_expects(name: str) -> None:
    alertname, state, labels, severity = EXPECTED[name]
    [alarm] = parse(sample(name))
    mapped = alert(alarm)
    assert (mapped.labels["alertname"], mapped.state.value, mapped.labels["severity"]) == (alertname, state, severity)
    assert mapped.labels["vendor"] == "azure"
    assert labels.items() <= mapped.labels.items()
    assert mapped.annotations["summary"].startswith(alertname)


def test_a_metric_alert_fires_at_fired_time_and_its_resolved_notification_ends_exactly_it() -> None:
    [fired] = parse(sample("metric-static-fired.json"))
    [resolved] = parse(sample("metric-static-resolved.json"))
    assert fired.started_at == at("2019-03-22T13:58:24.371321")  # seven fractional digits, read to the microsecond
    assert resolved.resolved_at == at("2019-03-22T14:03:16.224631")
    assert alert(fired).object_key == alert(resolved).object_key
    assert fired.details["current_value"] == "31.1105" and resolved.details["current_value"] == "7.727"
    assert fired.details["threshold"] == "GreaterThan 25"
    assert (fired.severity, fired.details["azure_severity"]) == ("info", "Sev3")

    other_series = sample("metric-static-resolved.json")
    other_series["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"][0]["value"] = "another-vm-id"
    [other] = parse(other_series)
    assert alert(other).object_key != alert(fired).object_key  # one rule, one alert per dimension set


def test_identity_is_the_object_not_the_alert_instance_nor_the_resource_id_case() -> None:
    """A rule that fires again gets a new alertId; Azure lower-cases ids in some payloads only."""
    body = sample("metric-dynamic-fired.json")
    again = copy.deepcopy(body)
    essentials = again["data"]["essentials"]
    essentials["alertId"] = essentials["alertId"].replace("12345678-1234", "87654321-4321")
    essentials["alertTargetIDs"] = [essentials["alertTargetIDs"][0].upper()]
    [first], [second] = parse(body), parse(again)
    assert alert(first).object_key == alert(second).object_key
    assert first.details["alert_id"] != second.details["alert_id"]


def test_each_criterion_of_a_multi_criteria_rule_is_its_own_alert() -> None:
    body = sample("metric-static-fired.json")
    criteria = body["data"]["alertContext"]["condition"]["allOf"]
    criteria.append({**criteria[0], "metricName": "Available Memory Bytes", "metricValue": 1e8})
    assert [a.name for a in parse(body)] == ["Percentage CPU", "Available Memory Bytes"]


@pytest.mark.parametrize(("sev", "severity"), [("Sev0", "critical"), ("Sev1", "critical"), ("Sev2", "warning"),
                                               ("Sev3", "info"), ("Sev4", "info"), ("Sev9", "")])
def test_severity_levels(sev: str, severity: str) -> None:
    body = sample("metric-static-fired.json")
    body["data"]["essentials"]["severity"] = sev
    assert parse(body)[0].severity == severity


def test_a_log_search_v2_alert_is_named_by_its_rule_and_resolves() -> None:
    body = sample("log-v2-fired.json")
    [fired] = parse(body)
    assert fired.expires_at is None and fired.details["search_query"] == "Heartbeat"
    # Azure's link has no "/" before its "#", which Alertmanager refuses as a generatorURL (HTTP 422)
    link = body["data"]["alertContext"]["condition"]["allOf"][0]["linkToFilteredSearchResultsUI"]
    assert alert(fired).generator_url == link.replace("portal.azure.com#@", "portal.azure.com/#@")
    body["data"]["essentials"].update(monitorCondition="Resolved", resolvedDateTime="2021-11-16T12:02:41.1234567Z")
    [resolved] = parse(body)
    assert resolved.state is AlarmState.RESOLVED and alert(resolved).object_key == alert(fired).object_key


@pytest.mark.parametrize("name", ["log-v1-numresults-fired.json", "activity-administrative-fired.json",
                                  "activity-policy-fired.json", "activity-autoscale-fired.json",
                                  "activity-security-fired.json", "activity-recommendation-fired.json",
                                  "budget-actual-cost.json"])
def test_notifications_azure_never_ends_resolve_themselves_after_an_hour(name: str) -> None:
    [alarm] = parse(sample(name))
    assert alarm.state is AlarmState.FIRING
    assert alarm.expires_at == alarm.started_at + EVENT_TTL


def test_service_health_ends_with_the_communication_whose_stage_is_resolved() -> None:
    resolved_body = sample("service-health-incident-resolved.json")
    active_body = copy.deepcopy(resolved_body)
    active_body["data"]["essentials"]["firedDateTime"] = "2021-11-16T20:05:00.1234567Z"
    active_body["data"]["alertContext"]["status"] = "Active"
    active_body["data"]["alertContext"]["properties"]["stage"] = "Active"
    [active], [resolved] = parse(active_body), parse(resolved_body)
    assert active.state is AlarmState.FIRING and active.expires_at == active.started_at + HEALTH_TTL
    assert resolved.state is AlarmState.RESOLVED  # while monitorCondition stays Fired
    assert resolved.resolved_at == at("2021-11-17T05:34:48.062317")
    assert alert(active).object_key == alert(resolved).object_key
    assert "impact summary" in resolved.details["communication"] and "<p>" not in resolved.details["communication"]


@pytest.mark.parametrize("stage", ["Complete", "Canceled", "RCA"])
def test_maintenance_and_post_incident_reviews_end_a_service_health_event(stage: str) -> None:
    body = sample("service-health-maintenance-planned.json")
    [planned] = parse(body)
    body["data"]["alertContext"]["properties"]["stage"] = stage
    [ended] = parse(body)
    assert (planned.state, ended.state) == (AlarmState.FIRING, AlarmState.RESOLVED)
    assert alert(planned).object_key == alert(ended).object_key


def test_resource_health_resolves_when_the_resource_is_available_again() -> None:
    body = sample("resource-health-unavailable.json")
    [down] = parse(body)
    context = body["data"]["alertContext"]
    context["operationName"] = "Microsoft.Resourcehealth/healthevent/Resolved/action"
    context["properties"].update(currentHealthStatus="Available", previousHealthStatus="Unavailable")
    [up] = parse(body)
    assert (down.state, up.state) == (AlarmState.FIRING, AlarmState.RESOLVED)
    assert down.details["current_health_status"] == "Unavailable"
    assert alert(down).object_key == alert(up).object_key


def test_unreadable_or_missing_times_fall_back_to_the_arrival_time() -> None:
    body = sample("metric-static-fired.json")
    body["data"]["essentials"]["firedDateTime"] = "22/03/2019 13:58"
    [alarm] = parse(body)
    assert alarm.started_at == NOW
    assert alarm.details["vendor_time_unparsed"] == "firedDateTime=22/03/2019 13:58"
    resolved = sample("metric-static-resolved.json")
    del resolved["data"]["essentials"]["resolvedDateTime"]
    assert parse(resolved)[0].resolved_at == NOW


def test_prometheus_labels_and_annotations_keep_their_names() -> None:
    body = sample("real-prometheus-fired.json")
    body["data"]["alertContext"]["annotations"] = {"summary": "CPU high on aks0001", "runbook_url": "https://r"}
    [alarm] = parse(body)
    mapped = alert(alarm)
    assert "alertname" not in alarm.dimensions and "dim_alertname" not in mapped.labels
    assert mapped.annotations["summary"].endswith("CPU high on aks0001")
    assert (mapped.annotations["runbook_url"], mapped.annotations["current_value"]) == ("https://r", "12.7m")


def test_the_portal_link_is_the_generator_url_only_when_it_points_into_the_portal() -> None:
    body = sample("metric-dynamic-fired.json")
    link = "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/Investigate.ReactView/alertId/x"
    body["data"]["essentials"]["investigationLink"] = link
    assert alert(parse(body)[0]).generator_url == link
    for hostile in ("https://evil.example/#portal.azure.com", "https://portal.azure.com/%zz", "javascript:x"):
        body["data"]["essentials"]["investigationLink"] = hostile
        assert alert(parse(body)[0]).generator_url == CONSOLE_URL


@pytest.mark.parametrize(("condition", "message"), [
    ("Acknowledged", "monitorCondition: must be Fired or Resolved, got 'Acknowledged'"),
])
def test_an_unknown_monitor_condition_is_refused(condition: str, message: str) -> None:
    body = sample("metric-static-fired.json")
    body["data"]["essentials"]["monitorCondition"] = condition
    with pytest.raises(InvalidPayload, match=message):
        parse(body)


@pytest.mark.parametrize("name", ["metric-alert.json", "activity-log-alert.json", "log-alert.json",
                                  "budget-notification.json"])
def test_a_legacy_schema_gets_a_400_that_says_to_enable_the_common_schema(client: FlaskClient, name: str) -> None:
    body = (FIXTURES / "azure" / "legacy" / name).read_bytes()
    response = client.post("/callbacks/azure", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "enable the common alert schema on the action group" in response.json["error"]


def test_a_common_schema_sample_is_answered_ok_and_a_url_check_too(client: FlaskClient) -> None:
    response = client.post("/callbacks/azure", data=fixture_bytes("azure", "log-v2-fired.json"),
                           content_type="application/json")
    assert (response.status_code, response.json) == (200, {"status": "ok"})
    assert client.get("/callbacks/azure").status_code == 200


def test_an_availability_test_alert_is_named_by_its_metric_and_names_the_test() -> None:
    """The page's availability-test context ("Failed Location", no namespace) under a metric sample's essentials."""
    body = sample("metric-dynamic-fired.json")
    body["data"]["alertContext"] = {"properties": None, "conditionType": "WebtestLocationAvailabilityCriteria",
                                    "condition": {"windowSize": "PT5M", "allOf": [{
                                        "metricName": "Failed Location", "metricNamespace": None,
                                        "operator": "GreaterThan", "threshold": "2", "timeAggregation": "Sum",
                                        "dimensions": [], "metricValue": 5,
                                        "webTestName": "myAvailabilityTest-myApplication"}]}}
    [alarm] = parse(body)
    assert (alarm.name, alarm.namespace) == ("Failed Location", "microsoft.storage/storageaccounts")
    assert (alarm.details["web_test_name"], alarm.details["threshold"]) == ("myAvailabilityTest-myApplication",
                                                                            "GreaterThan 2")


def test_a_time_without_a_zone_is_utc_whatever_the_vendor_timezone() -> None:
    body = sample("metric-static-fired.json")
    body["data"]["essentials"]["firedDateTime"] = "2019-03-22T13:58:24.3713213"
    assert parse(body)[0].started_at == at("2019-03-22T13:58:24.371321")  # CTX's zone is Asia/Shanghai


@pytest.mark.parametrize(("change", "message"), [
    (lambda body: body["data"].update(essentials=[]), "data.essentials: must be an object, got array"),
    (lambda body: body.pop("data"), "data: missing"),
    (lambda body: body["data"]["essentials"].update(alertRule=None, monitoringService=""),
     "alertRule and monitoringService both missing or empty"),
    (lambda body: body.update(schemaId="Microsoft.Insights/somethingElse"), "not the common alert schema"),
])
def test_a_body_that_cannot_become_an_alert_is_refused_with_the_field_named(change, message: str) -> None:
    body = sample("metric-static-fired.json")
    change(body)
    with pytest.raises(InvalidPayload, match=message):
        parse(body)


def test_a_common_schema_body_without_its_schema_id_is_read() -> None:
    """Hand-made tests (curl from a runbook) often leave schemaId out; the essentials say enough."""
    body = sample("metric-static-fired.json")
    del body["schemaId"]
    assert [a.name for a in parse(body)] == ["Percentage CPU"]
