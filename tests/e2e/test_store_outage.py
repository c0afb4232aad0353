"""The real ``serve`` while its store really fails: Redis stopped, the SQLite files overwritten.

What users rely on: a vendor gets a JSON 503 with Retry-After (so it retries, and nothing it was told
was taken is lost), the outcome is counted, /-/ready takes the replica out of the Service, /metrics says
the store is down, and the bridge takes callbacks again as soon as the store is back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.harness.bridge_process import Bridge, metric
from tests.harness.payloads import kingsoft
from tests.harness.processes import wait_for
from tests.harness.redis_server import RedisServer
from tests.harness.stores import corrupt_sqlite

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

NOWHERE = "http://127.0.0.1:9"
"""Delivery is not under test here: an Alertmanager nobody listens at."""
UNAVAILABLE = 'cloud_alarm_bridge_callbacks_total{outcome="store_unavailable",vendor="kingsoft"}'


def assert_outage_answers(bridge: Bridge) -> None:
    response = bridge.post("kingsoft", kingsoft("during-the-outage"))
    assert response.status_code == 503
    assert response.json() == {"error": "the store is unavailable; retry later"}
    assert response.headers["Retry-After"] == "5"
    ready = requests.get(f"{bridge.url}/-/ready", timeout=5)
    assert ready.status_code == 503 and ready.text.startswith("not ready: ")
    text = bridge.metrics()
    assert metric(text, UNAVAILABLE) == 1
    assert metric(text, "cloud_alarm_bridge_store_up") == 0
    assert "cloud_alarm_bridge_store_alerts " not in text
    assert "Traceback" not in bridge.log_text()


def test_redis_stopped_gets_503s_and_not_ready_then_callbacks_flow_again(
        start_bridge: Callable[..., Bridge], redis_server: RedisServer) -> None:
    bridge = start_bridge([NOWHERE], store=redis_server.url)
    assert bridge.post("kingsoft", kingsoft("before")).status_code == 200
    redis_server.stop()
    try:
        assert_outage_answers(bridge)
    finally:
        redis_server.start()
    wait_for(lambda: bridge.post("kingsoft", kingsoft("after")).status_code == 200, timeout=10,
             message="callbacks taken again once Redis is back")
    assert requests.get(f"{bridge.url}/-/ready", timeout=5).status_code == 200
    assert metric(bridge.metrics(), "cloud_alarm_bridge_store_up") == 1


def test_a_broken_sqlite_file_gets_503s_and_not_ready(start_bridge: Callable[..., Bridge], tmp_path: Path) -> None:
    bridge = start_bridge([NOWHERE])
    assert bridge.post("kingsoft", kingsoft("before")).status_code == 200
    corrupt_sqlite(tmp_path / "bridge.db")
    assert_outage_answers(bridge)
