"""Each vendor's callback becomes the expected alert in a real Alertmanager, and its recovery resolves it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import BRIDGE, Bridge
from tests.harness.fixtures import fixture_bytes
from tests.harness.payloads import aliyun, kingsoft

pytestmark = pytest.mark.e2e
FORM = "application/x-www-form-urlencoded; charset=UTF-8"


@pytest.fixture
def bridge(alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> Bridge:
    return start_bridge([alertmanager.url])


def test_a_tencent_alarm_fires_promptly_and_its_recovery_resolves_it(bridge: Bridge,
                                                                      alertmanager: Alertmanager) -> None:
    started = time.monotonic()
    response = bridge.post("tencent", fixture_bytes("tencent", "metric-firing.json"))
    assert response.status_code == 200
    assert response.json() == {"sessionId": "xxxxxxxx", "retCode": 0}
    [alert] = alertmanager.wait_for(active, timeout=5, vendor="tencent")
    assert time.monotonic() - started < 1.0  # prompt: a poll interval plus one POST
    assert alert["labels"] == {
        "alertname": "cpu_usage", "vendor": "tencent", "cloud_namespace": "qce/cvm", "region": "gz",
        "policy_id": "policy-n4exeh88", "severity": "warning", "unInstanceId": "ins-o9p3rg3m",
        "objId": "94f1133c-46cf-4c61-a4c1-d928183aba47", "objName": "172.21.30.15#588789"}
    assert alert["startsAt"].startswith("2017-03-08T23:00:00")  # 07:00 in Asia/Shanghai
    assert alert["annotations"]["current_value"] == "100 %"
    assert alert["generatorURL"].startswith("https://console.cloud.tencent.com/")

    assert bridge.post("tencent", fixture_bytes("tencent", "metric-resolved.json")).status_code == 200
    alertmanager.wait_for(lambda alerts: not alerts, timeout=5, message="the recovery to resolve the alert")


def test_an_aliyun_form_callback_fires_and_ok_resolves_it(bridge: Bridge, alertmanager: Alertmanager) -> None:
    assert bridge.post("aliyun", fixture_bytes("aliyun", "threshold-alert.form"), FORM).json() == {"status": "ok"}
    [alert] = alertmanager.wait_for(active, vendor="aliyun")
    assert alert["labels"]["alertname"] == "Host.mem.usedutilization"
    assert alert["labels"]["severity"] == "warning"
    assert alert["labels"]["instanceId"] == "i-12****"
    assert alert["labels"]["policy_id"] == "applyTemplateee147e59-664f-4033-a1be-e9595746****"
    assert "signature" not in json.dumps(alert)
    ok = fixture_bytes("aliyun", "threshold-alert.form").replace(b"alertState=ALERT", b"alertState=OK")
    ok = ok.replace(b"timestamp=1508136760", b"timestamp=1508137000")
    assert bridge.post("aliyun", ok, FORM).status_code == 200
    alertmanager.wait_for(lambda alerts: not alerts, message="the OK to resolve the alert")


def test_an_aliyun_level_change_leaves_exactly_one_alert_firing(bridge: Bridge, alertmanager: Alertmanager) -> None:
    bridge.post("aliyun", aliyun("i-1", level="WARN", pre_level="null", timestamp_ms=1_700_000_000_000), FORM)
    alertmanager.wait_for(lambda a: [x for x in active(a) if x["labels"]["severity"] == "warning"])
    bridge.post("aliyun", aliyun("i-1", level="CRITICAL", pre_level="WARN", timestamp_ms=1_700_000_060_000), FORM)
    alerts = alertmanager.wait_for(
        lambda a: len(active(a)) == 1 and active(a)[0]["labels"]["severity"] == "critical" and a,
        message="only the critical alert firing")
    assert len(active(alerts)) == 1
    bridge.post("aliyun", aliyun("i-1", state="OK", level="OK", pre_level="CRITICAL",
                                 timestamp_ms=1_700_000_120_000), FORM)
    alertmanager.wait_for(lambda a: not a, message="the recovery to resolve whichever severity fired")


def test_kingsoft_conditions_each_become_an_alert(bridge: Bridge, alertmanager: Alertmanager) -> None:
    assert bridge.post("kingsoft", fixture_bytes("kingsoft", "two-conditions.json")).status_code == 200
    alerts = alertmanager.wait_for(lambda a: len(a) == 2 and a, vendor="kingsoft")
    assert {a["labels"]["alertname"] for a in alerts} == {"cpu.utilizition.total", "memory.utilizition.total"}
    assert all(a["labels"]["instanceId"] == "5d2a8e1c-kec-0001" and a["labels"]["policy_id"] == "9001"
               for a in alerts)


def test_amtool_sees_the_alert_and_a_recovery_resolves_it(bridge: Bridge, alertmanager: Alertmanager) -> None:
    bridge.post("kingsoft", kingsoft("host-amtool", timestamp=int(time.time()) - 30))
    alertmanager.wait_for(lambda a: a, vendor="kingsoft")
    query = subprocess.run([shutil.which("amtool") or "amtool", "alert", "query", "vendor=kingsoft",
                            f"--alertmanager.url={alertmanager.url}", "-o", "json"],
                           capture_output=True, text=True, check=True, timeout=30)
    [alert] = json.loads(query.stdout)
    assert alert["labels"]["host"] == "host-amtool"
    bridge.post("kingsoft", kingsoft("host-amtool", state=0, timestamp=int(time.time())))
    alertmanager.wait_for(lambda a: not a, vendor="kingsoft", message="resolved")


def test_rejected_callbacks_change_nothing_in_alertmanager(bridge: Bridge, alertmanager: Alertmanager) -> None:
    bridge.post("kingsoft", kingsoft("host-ok", timestamp=int(time.time())))
    alertmanager.wait_for(lambda a: a)
    bad = [bridge.post("kingsoft", b'{"alarmState": 1, "alarmPolicyInfo": {"conditions": [{}]}}'),
           bridge.post("tencent", b"\xff\xfe garbage"),
           bridge.post("aliyun", b"<xml/>", "application/xml")]
    assert [r.status_code for r in bad] == [400, 400, 415]
    assert all("error" in r.json() for r in bad)
    time.sleep(1.0)
    assert [a["labels"]["host"] for a in alertmanager.alerts()] == ["host-ok"]
    assert 'cloud_alarm_bridge_callbacks_total{outcome="invalid",vendor="kingsoft"} 1.0' in bridge.metrics()


def test_translate_prints_the_alerts_a_payload_becomes(tmp_path: Path) -> None:
    payload = tmp_path / "alarm.json"
    payload.write_bytes(fixture_bytes("kingsoft", "alarm.json"))
    result = subprocess.run([BRIDGE, "translate", "kingsoft", str(payload)], capture_output=True, text=True,
                            check=True, timeout=30)
    [alert] = json.loads(result.stdout)
    assert alert["labels"]["host"] == "50fa05d9211b478293744280ac1592ag"
    assert alert["startsAt"] == "2019-01-10T03:47:47.000Z"
    payload.write_text('{"alarmState": 7}')
    failed = subprocess.run([BRIDGE, "translate", "kingsoft", str(payload)], capture_output=True, text=True,
                            timeout=30)
    assert failed.returncode == 1
    assert "alarmState: must be 1 or 0" in failed.stderr
