"""Mapping rules end to end: real ``serve`` with a config file, real Alertmanager, live reloads."""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes
from tests.harness.processes import wait_for

pytestmark = pytest.mark.e2e

V1 = """\
external_labels: {team: infra}
vendors:
  tencent:
    alert_relabel_configs:
      - source_labels: [objName]
        target_label: instance
annotation_templates:
  runbook_url: "https://runbooks.example.com/{{ labels.vendor }}/{{ labels.alertname }}"
"""
V2 = V1.replace("{team: infra}", "{team: infra, cluster: prod}")
V3 = V2 + """\
alert_relabel_configs:
  - source_labels: [alertname]
    regex: cpu_usage
    target_label: severity
    replacement: critical
"""
INVALID = V3 + "  - {action: drop, regex: '('}\n"


def tencent(instance: str, *, resolved: bool = False) -> bytes:
    """Tencent's CPU alarm for one instance (its objName is the instance)."""
    payload = json.loads(fixture_bytes("tencent", "metric-resolved.json" if resolved else "metric-firing.json"))
    payload["alarmObjInfo"]["dimensions"].update(unInstanceId=instance, objName=instance)
    return json.dumps(payload).encode()


def metric(bridge: Bridge, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", bridge.metrics(), re.MULTILINE)
    return float(found.group(1)) if found else None


class Load:
    """Callbacks posted without pause from another thread: a reload must not fail a single one."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.failures: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = tencent("ins-load")
        while not self._stop.is_set():
            try:
                response = self.bridge.post("tencent", body)
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
            self.sent += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def setup(tmp_path: Path, alertmanager: Alertmanager,
          start_bridge: Callable[..., Bridge]) -> tuple[Bridge, Alertmanager, Path]:
    config = tmp_path / "bridge.yml"
    config.write_text(V1)
    bridge = start_bridge([alertmanager.url], f"--config={config}", "--resend-interval=30s")
    return bridge, alertmanager, config


def arrives(bridge: Bridge, am: Alertmanager, instance: str, **expected: str) -> dict:
    """Post the instance's alarm once; Alertmanager must get it with exactly the expected label values."""
    assert bridge.post("tencent", tencent(instance)).status_code == 200
    [alert] = am.wait_for(lambda alerts: alerts, message=f"{instance} in alertmanager", instance=instance)
    assert {k: alert["labels"].get(k) for k in expected} == expected
    return alert


def sighup(bridge: Bridge) -> None:
    """SIGHUP serve and wait until the reload was handled (its outcome is in /metrics)."""
    before = metric(bridge, "cloud_alarm_bridge_config_last_reload_success_timestamp_seconds")
    successful = metric(bridge, "cloud_alarm_bridge_config_last_reload_successful")
    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGHUP)
    wait_for(lambda: (metric(bridge, "cloud_alarm_bridge_config_last_reload_success_timestamp_seconds") != before
                      or metric(bridge, "cloud_alarm_bridge_config_last_reload_successful") != successful),
             10, message="the reload in /metrics")


def test_rules_apply_and_reload_live(setup: tuple[Bridge, Alertmanager, Path]) -> None:
    bridge, am, config = setup
    assert metric(bridge, "cloud_alarm_bridge_config_last_reload_successful") == 1

    alert = arrives(bridge, am, "ins-a", team="infra", vendor="tencent", cluster=None)
    assert alert["annotations"]["runbook_url"] == "https://runbooks.example.com/tencent/cpu_usage"
    assert "objName" in alert["labels"]
    arrives(bridge, am, "ins-b", team="infra")

    with Load(bridge) as load:
        # SIGHUP to serve: forwarded to gunicorn, whose master checks the file and tells the workers.
        config.write_text(V2)
        sighup(bridge)
        arrives(bridge, am, "ins-c", cluster="prod")
        # ins-b fired under V1 (no cluster label); its recovery, mapped under V2, still resolves it.
        assert bridge.post("tencent", tencent("ins-b", resolved=True)).status_code == 200
        am.wait_for(lambda alerts: alerts == [], message="ins-b resolved", instance="ins-b")

        # POST /-/reload answers once the new rules are in force in every worker.
        config.write_text(V3)
        response = requests.post(f"{bridge.url}/-/reload", timeout=15)
        assert (response.status_code, response.text) == (200, "OK\n")
        arrives(bridge, am, "ins-d", severity="critical", cluster="prod")

        # An invalid file: refused on SIGHUP and on POST; the V3 rules stay in force.
        config.write_text(INVALID)
        sighup(bridge)
        assert metric(bridge, "cloud_alarm_bridge_config_last_reload_successful") == 0
        response = requests.post(f"{bridge.url}/-/reload", timeout=15)
        assert response.status_code == 500
        assert "alert_relabel_configs[1].regex: invalid regular expression '('" in response.text
        alert = arrives(bridge, am, "ins-e", severity="critical", cluster="prod", team="infra")
        assert alert["annotations"]["runbook_url"] == "https://runbooks.example.com/tencent/cpu_usage"
    assert load.failures == []
    assert load.sent > 20
    assert metric(bridge, "cloud_alarm_bridge_config_last_reload_successful") == 0
    assert bridge.process is not None and bridge.process.poll() is None
    assert "configuration reload refused" in bridge.log_text()


def test_an_edit_after_a_reload_waits_for_the_next_reload(setup: tuple[Bridge, Alertmanager, Path]) -> None:
    """Every worker applies the text the master checked at the reload, not the file as it is later."""
    bridge, am, config = setup
    config.write_text(V2)
    sighup(bridge)  # no worker has handled a request since: each applies the reload at its next one
    config.write_text(V3)  # edited, not reloaded: unreviewed until the next reload
    for index in range(6):  # new connections: both workers answer some
        arrives(bridge, am, f"ins-edit-{index}", cluster="prod", severity="warning")

    response = requests.post(f"{bridge.url}/-/reload", timeout=15)
    assert (response.status_code, response.text) == (200, "OK\n")
    config.write_text(V1)
    for index in range(6):
        arrives(bridge, am, f"ins-next-{index}", cluster="prod", severity="critical")
    assert "cannot apply the accepted configuration" not in bridge.log_text()
