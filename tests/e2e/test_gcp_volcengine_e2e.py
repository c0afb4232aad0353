"""Every Google Cloud and Volcengine sample becomes the expected alerts in a real Alertmanager, and what
closes or recovers it resolves exactly those.

One bridge and one Alertmanager serve the module (tests/e2e/conftest.py ``shared_stack``); each vendor's
test uses alerts of its own vendor label. Stored pairs are posted as they are; a sample without its
counterpart in tests/fixtures gets one derived from it the way the vendor sends it (GCP: the same incident
with ``state`` closed and ``ended_at``; Volcengine: the resource under ``RecoveredResources`` with its
metrics out of warning).
"""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import sample_paths

pytestmark = pytest.mark.e2e
UTC8 = timezone(timedelta(hours=8))


def post(bridge: Bridge, vendor: str, body: dict[str, Any]) -> None:
    response = bridge.post(vendor, json.dumps(body, ensure_ascii=False).encode())
    assert response.status_code == 200, response.text


def firing(am: Alertmanager, vendor: str) -> list[dict[str, Any]]:
    return active(am.alerts(vendor=vendor))


def gcp_closed(opened: dict[str, Any], at: float) -> dict[str, Any]:
    closed = copy.deepcopy(opened)
    closed["incident"].update(state="closed", ended_at=int(at))
    return closed


def test_every_gcp_sample_fires_and_its_close_resolves_exactly_it(shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    samples = {path.name: json.loads(path.read_bytes()) for path in sample_paths("gcp")}
    test = samples.pop("test-notification.json")
    # the stored pairs as they are: Google's documented close has no metric labels, its open has one
    pairs = {"gke-cpu-critical-open.json": samples.pop("doc-gke-cpu-closed.json"),
             "uptime-check-open.json": samples.pop("uptime-check-closed.json")}
    now = time.time()
    opens, closes = [], []
    for name, body in samples.items():
        opens.append(body)
        closes.append(pairs.get(name) or gcp_closed(body, now))
    # the uptime check (no metric, no policy id: named after its policy) is renamed while it is open, and its
    # close comes last: it is the one left firing before it
    last = closes.pop([b["incident"]["incident_id"] for b in opens].index("0.ligwyr056k2l"))
    last = copy.deepcopy(last)
    last["incident"]["policy_name"] = "api - users (renamed while open)"
    closes.append(last)
    for body in opens:
        post(bridge, "gcp", body)
    alerts = am.wait_for(lambda a: len(active(a)) == len(opens) and active(a), message="every gcp open firing",
                         vendor="gcp")
    assert sorted(a["labels"]["incident_id"] for a in alerts) == sorted(b["incident"]["incident_id"] for b in opens)
    by_name = {a["labels"]["alertname"]: a for a in alerts}
    uptime = by_name["api - noc - users"]
    assert uptime["labels"]["host"] == "MYHOST" and uptime["labels"]["cloud_namespace"] == "uptime_url"
    critical = [a for a in alerts if a["labels"]["severity"] == "critical"]
    assert len(critical) == 1 and critical[0]["labels"]["region"] == "us-central1"
    assert critical[0]["labels"]["instance_name"] == "gke-cluster-1-default-pool-e2df4cbd-dgp3"
    assert critical[0]["generatorURL"].startswith("https://console.cloud.google.com/monitoring/alerting/incidents/")
    assert critical[0]["annotations"]["observed_value"] == "0.962"

    post(bridge, "gcp", test)
    am.wait_for(lambda a: len(active(a)) == 1, message="the test notification firing",
                alertname="test.googleapis.com/metric")
    for body in closes[:-1]:
        post(bridge, "gcp", body)
    left = am.wait_for(lambda a: len(active(a)) == 2 and active(a), message="all but the last open resolved",
                       vendor="gcp")
    assert sorted(x["labels"]["alertname"] for x in left) == ["api - noc - users", "test.googleapis.com/metric"]
    post(bridge, "gcp", closes[-1])
    am.wait_for(lambda a: [x["labels"]["alertname"] for x in active(a)] == ["test.googleapis.com/metric"],
                message="only the test notification left (it expires by itself)", vendor="gcp")


def volc_recovered(fired: dict[str, Any], at: float) -> dict[str, Any]:
    recovered = copy.deepcopy(fired)
    resources = recovered.pop("Resources")
    for resource in resources:
        for metric in resource["Metrics"]:
            metric["Warning"] = False
    recovered.update(Type="MetricRecovered", RecoveredResources=resources,
                     HappenedAt=datetime.fromtimestamp(at, UTC8).strftime("%Y-%m-%d %H:%M:%S(UTC+08:00)"))
    return recovered


def test_every_volcengine_sample_fires_per_resource_and_recovers_exactly_its_own(
        shared_stack: tuple[Alertmanager, Bridge]) -> None:
    am, bridge = shared_stack
    samples = {path.name: json.loads(path.read_bytes()) for path in sample_paths("volcengine")}
    for name in ("redis-node-000-metric.json", "redis-node-001-metric.json", "ecs-two-resources-metric.json",
                 "ecs-nodata.json"):
        post(bridge, "volcengine", samples[name])
    event = {**samples["event-ecs-disk-redeploy.json"], "HappenedAt": int(time.time())}
    post(bridge, "volcengine", event)

    def shown(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        return {(a["labels"]["alertname"], a["labels"].get("Node") or a["labels"].get("ResourceName")
                 or a["labels"].get("resource", ""), a["labels"].get("alarm_state", "")) for a in active(alerts)}

    expected = {("MemUtil", "server-redis-shzl****xosmn6xz-000-0-0", ""),
                ("MemUtil", "server-redis-shzl****xosmn6xz-001-0-0", ""),
                ("CpuTotal", "web-1", ""), ("CpuTotal", "web-2", ""), ("MemoryUsedUtilization", "web-2", ""),
                ("CpuTotal", "web-3", "insufficient_data"),
                ("ecs:Disk:DiskError.Redeploy.Executing", "i-ycb4xxxxxxxxxxxxxxxx", "")}
    am.wait_for(lambda a: shown(a) == expected, message="one alert per resource and metric in warning",
                vendor="volcengine")

    # A recovery of one Redis node leaves the other firing (they share one Id).
    post(bridge, "volcengine", samples["redis-node-000-recovered.json"])
    expected -= {("MemUtil", "server-redis-shzl****xosmn6xz-000-0-0", "")}
    am.wait_for(lambda a: shown(a) == expected, message="only node 000 resolved", vendor="volcengine")

    now = time.time()
    post(bridge, "volcengine", volc_recovered(samples["redis-node-001-metric.json"], now))
    post(bridge, "volcengine", volc_recovered(samples["ecs-two-resources-metric.json"], now))
    post(bridge, "volcengine", samples["ecs-nodata-recovered.json"])
    am.wait_for(lambda a: shown(a) == {("ecs:Disk:DiskError.Redeploy.Executing", "i-ycb4xxxxxxxxxxxxxxxx", "")},
                message="every metric alarm recovered, the event left to expire", vendor="volcengine")
