"""What an operator sees of a running bridge: reachability on a quiet bridge, and outages logged once."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge, metric
from tests.harness.payloads import kingsoft
from tests.harness.processes import wait_for
from tests.harness.redis_server import RedisServer

pytestmark = pytest.mark.e2e

RULES_FILE = Path(__file__).resolve().parents[2] / "helm" / "cloud-alarm-bridge" / "files" / "prometheus-rules.yaml"


def log_lines(bridge: Bridge, message: str) -> list[dict]:
    lines = [json.loads(line) for line in bridge.log_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == message]


def test_a_quiet_bridge_knows_its_alertmanager_is_up_and_the_rules_do_not_page(
        tmp_path: Path, alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> None:
    bridge = start_bridge([alertmanager.url])
    up = f'cloud_alarm_bridge_alertmanager_up{{alertmanager="{alertmanager.url}"}}'
    # The two gauges are written one after the other by the delivery process: wait for both, not one then read.
    wait_for(lambda: metric(bridge.metrics(), up) == 1
             and metric(bridge.metrics(), "cloud_alarm_bridge_last_success_timestamp_seconds") > 0,
             5, message="alertmanager_up 1 and a last success without any callback")
    # Half an hour of exactly what this idle bridge exports, through the shipped rules: no alert at all.
    series = [line.rsplit(" ", 1) for line in bridge.metrics().splitlines()
              if line.startswith("cloud_alarm_bridge_") and "_created" not in line]
    alerts = [rule["alert"] for group in yaml.safe_load(RULES_FILE.read_text())["groups"] for rule in group["rules"]]
    test_file = tmp_path / "quiet-test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m",
                   "input_series": [{"series": name, "values": f"{float(value)}x40"} for name, value in series],
                   "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}
                                       for alert in alerts for at in ("6m", "16m", "35m")]}],
    }))
    done = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_alertmanager_outage_is_logged_once_then_once_when_it_ends(
        new_alertmanager: Callable[..., Alertmanager], start_bridge: Callable[..., Bridge]) -> None:
    am = new_alertmanager("am")  # not started yet
    bridge = start_bridge([am.url])
    assert bridge.post("kingsoft", kingsoft("outage-1")).status_code == 200
    # Probes failed before the callback came, so POSTs are retried at the longest backoff already.
    wait_for(lambda: metric(bridge.metrics(), "cloud_alarm_bridge_send_failures_total") >= 2, 20,
             message="a failed POST and its retry")
    failures = log_lines(bridge, "cannot reach alertmanager; will retry")
    assert len(failures) == 1, failures
    assert failures[0]["error"] == "Connection refused"
    assert "Max retries" not in bridge.log_text()
    am.start()
    am.wait_for(lambda alerts: alerts, timeout=10, message="the alert delivered after the outage")
    wait_for(lambda: log_lines(bridge, "alertmanager reachable again"), 5, message="one line on recovery")
    (recovered,) = log_lines(bridge, "alertmanager reachable again")
    assert recovered["failures"] >= 2


def test_a_store_outage_is_logged_once_then_once_when_it_ends(
        alertmanager: Alertmanager, redis_server: RedisServer, start_bridge: Callable[..., Bridge]) -> None:
    bridge = start_bridge([alertmanager.url], store=redis_server.url)
    redis_server.kill()
    try:
        wait_for(lambda: log_lines(bridge, "store error while delivering; will retry"), 10,
                 message="the store outage logged")
        time.sleep(2)  # ~20 attempts at the old 100 ms poll
        assert len(log_lines(bridge, "store error while delivering; will retry")) == 1
        assert not log_lines(bridge, "store still failing")  # the reminder comes a minute later
    finally:
        redis_server.start()
    wait_for(lambda: log_lines(bridge, "store reachable again"), 10, message="one line on recovery")


def test_the_start_names_version_store_and_config_a_second_bridge_says_who_delivers_and_a_stop_tidies_up(
        tmp_path: Path, alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("external_labels: {team: infra}\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    first = Bridge(tmp_path, [alertmanager.url], f"--config={config}", store="sqlite:///data/bridge.db",
                   env={"PROMETHEUS_MULTIPROC_DIR": "", "TMPDIR": str(scratch)}).start()
    try:
        (starting,) = log_lines(first, "starting")
        assert starting["version"] and starting["config_file"] == str(config)
        assert starting["store"] == f"sqlite:///{tmp_path}/data/bridge.db"  # relative to the working directory
        assert any(p.name.startswith("cloud-alarm-bridge-metrics-") for p in scratch.iterdir())
        second = start_bridge([alertmanager.url], store="sqlite:///data/bridge.db")
        wait_for(lambda: log_lines(second, "another process holds the delivery lease in this store: this one "
                                           "accepts callbacks and takes over delivery only if that one stops"), 5,
                 message="the second bridge saying it does not deliver")
    finally:
        assert first.stop() == 0
    assert list(scratch.iterdir()) == []  # a clean stop leaves no temporary directory behind


def test_probes_are_quiet_and_each_callback_is_one_line_naming_its_client(
        alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> None:
    bridge = start_bridge([alertmanager.url], "--trusted-proxy=127.0.0.1", "--vendor-allow-cidr=aliyun=10.0.0.0/8")
    for path in ("/metrics", "/-/healthy", "/-/ready") * 3:
        assert requests.get(bridge.url + path, timeout=5).ok
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert bridge.post("kingsoft", kingsoft("one-line"), headers=forwarded).status_code == 200
    assert bridge.post("aliyun", "a=b", "application/x-www-form-urlencoded", headers=forwarded).status_code == 403
    wait_for(lambda: len(log_lines(bridge, "request")) >= 2, 5, message="the access log lines")
    requests_logged = log_lines(bridge, "request")
    assert [line["path"] for line in requests_logged] == ["/callbacks/kingsoft", "/callbacks/aliyun"]
    accepted, refused = requests_logged
    assert accepted["remote"] == "203.0.113.7" and accepted["peer"] == "127.0.0.1"
    assert (accepted["vendor"], accepted["outcome"], accepted["alerts"], accepted["changed"]) == (
        "kingsoft", "accepted", 1, 1)
    assert accepted["alarms"]
    assert (refused["remote"], refused["outcome"]) == ("203.0.113.7", "forbidden")
    (refusal,) = log_lines(bridge, "refused a callback from outside the allowed networks")
    assert refusal["remote"] == "203.0.113.7"
    assert 'cloud_alarm_bridge_alarm_changes_total{outcome="stale",vendor="tencent"} 0.0' in bridge.metrics()


def test_a_reload_says_which_changes_need_a_restart(
        tmp_path: Path, alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("resend_interval: 30s\nexternal_labels: {team: infra}\n")
    bridge = start_bridge([alertmanager.url], f"--config={config}")
    config.write_text("resend_interval: 10s\nexternal_labels: {team: ops}\n")
    response = requests.post(f"{bridge.url}/-/reload", timeout=15)
    assert (response.status_code, response.text) == (200, "OK: rules reloaded; restart to apply resend_interval\n")
    (reloaded,) = [line for line in log_lines(bridge, "configuration reloaded") if line["level"] == "warning"]
    assert reloaded["changed_but_applied_only_on_restart"] == ["resend_interval"]
