"""Every Azure Monitor sample becomes its alert in a real Alertmanager, and what ends it resolves it.

One bridge and one Alertmanager serve the module. Samples are posted as published with their times
moved to now (Azure's format, seven fractional digits); each is ended the way Azure ends it: a Resolved
notification, a service-health communication whose stage ends the event, a resource back to Available,
or (for the notifications Azure never ends) the hour after which they resolve themselves.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.vendors.azure.common import EVENT_TTL
from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes

pytestmark = pytest.mark.e2e


def sample(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes("azure", name))


def azure_time(at: float) -> str:
    """Azure's format: ``2019-03-22T13:58:24.3713213Z``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "3Z"


def timed(body: dict[str, Any], fired: float, resolved: float | None = None, **changes: Any) -> dict[str, Any]:
    """``body`` fired at ``fired`` (resolved at ``resolved``), with essentials ``changes``."""
    body = copy.deepcopy(body)
    essentials = body["data"]["essentials"]
    essentials.update(firedDateTime=azure_time(fired), **changes)
    if resolved is not None:
        essentials.update(monitorCondition="Resolved", resolvedDateTime=azure_time(resolved))
    return body


def post(bridge: Bridge, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        response = bridge.post("azure", json.dumps(body))
        assert (response.status_code, response.json()) == (200, {"status": "ok"}), response.text


def firing(am: Alertmanager, count: int) -> dict[str, dict[str, Any]]:
    """The firing Azure alerts by alertname, once there are ``count``."""
    alerts = am.wait_for(lambda found: len(active(found)) == count and active(found), timeout=15,
                         message=f"{count} azure alerts firing", vendor="azure")
    return {a["labels"]["alertname"]: a for a in alerts}


def gone(am: Alertmanager, timeout: float = 15.0) -> None:
    am.wait_for(lambda alerts: not alerts, timeout=timeout, message="every azure alert resolved", vendor="azure")


def health(body: dict[str, Any], **properties: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["data"]["alertContext"]["properties"].update(properties)
    return body


def test_stateful_and_health_alerts_fire_and_their_ends_resolve_exactly_them(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    now = time.time()
    stateful = ["metric-dynamic-fired.json", "log-v2-fired.json", "real-prometheus-fired.json",
                "smart-detection-fired.json"]
    incident = sample("service-health-incident-resolved.json")
    incident_active = health(incident, stage="Active")
    incident_active["data"]["alertContext"]["status"] = "Active"
    resource = sample("resource-health-unavailable.json")
    maintenance = sample("service-health-maintenance-planned.json")
    post(bridge, timed(sample("metric-static-fired.json"), now - 60),
         *(timed(sample(name), now - 60) for name in stateful),
         timed(incident_active, now - 60), timed(maintenance, now - 60), timed(resource, now - 60))

    alerts = firing(am, 8)
    assert sorted(alerts) == sorted([
        "Percentage CPU", "Transactions", "test-logAlertRule-v2", "Average node CPU utilization is greater than 80%",
        "Dependency Latency Degradation - test-applicationInsights", "ServiceHealth:Incident",
        "ServiceHealth:Maintenance", "ResourceHealth"])
    assert alerts["Percentage CPU"]["labels"] == {
        "alertname": "Percentage CPU", "vendor": "azure", "cloud_namespace": "microsoft.compute/virtualmachines",
        "policy_id": "WCUS-R2-Gen2", "severity": "info", "ResourceId": "3efad9dc-3d50-4eac-9c87-8b3fd6f97e4e",
        "resource": "wcus-r2-gen2", "resource_group": "pipelinealertrg", "subscription_id": "<subscription ID>",
        "resource_id": "/subscriptions/<subscription id>/resourcegroups/pipelinealertrg/providers/"
                       "microsoft.compute/virtualmachines/wcus-r2-gen2"}
    assert alerts["Percentage CPU"]["annotations"]["current_value"] == "31.1105"
    assert alerts["Percentage CPU"]["startsAt"].startswith(azure_time(now - 60)[:19])
    assert alerts["test-logAlertRule-v2"]["labels"]["Computer"] == "test-computer"
    assert alerts["test-logAlertRule-v2"]["generatorURL"].startswith("https://portal.azure.com/#@")
    assert alerts["ServiceHealth:Incident"]["labels"]["tracking_id"] == "ABC1-DEF"
    assert alerts["ResourceHealth"]["annotations"]["current_health_status"] == "Unavailable"

    # the published Resolved sample ends the published firing one; the others end as Azure ends them
    post(bridge, timed(sample("metric-static-resolved.json"), now - 60, now),
         *(timed(sample(name), now - 60, now) for name in stateful),
         timed(incident, now),  # monitorCondition stays Fired: stage and status say Resolved
         timed(health(maintenance, stage="Complete"), now),
         timed(health(resource, currentHealthStatus="Available", previousHealthStatus="Unavailable"), now))
    gone(am)


def test_notifications_azure_never_ends_fire_and_resolve_themselves(shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    expires_in = 5.0  # room for a loaded machine to deliver them before they expire
    happened = time.time() - EVENT_TTL + expires_in
    names = ["activity-administrative-fired.json", "activity-policy-fired.json", "activity-autoscale-fired.json",
             "activity-security-fired.json", "activity-recommendation-fired.json",
             "log-v1-metric-measurement-fired.json", "log-v1-numresults-fired.json", "budget-actual-cost.json"]
    post(bridge, *(timed(sample(name), happened) for name in names))

    alerts = firing(am, 8)
    assert alerts["Microsoft.Compute/virtualMachines/restart/action"]["labels"]["resource"] == "test-VM"
    assert alerts["Microsoft.Authorization/policies/audit/action"]["labels"]["region"] == "eastus2"
    assert alerts["test-logAlertRule-v1-numResults"]["annotations"]["current_value"] == "1"
    assert alerts["Budget"]["labels"]["policy_id"] == "Test_actual_cost_budget"
    gone(am, timeout=expires_in + 15)
