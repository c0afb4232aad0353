"""The inspector's API on a real ``serve`` and a real Alertmanager: a callback is listed with what it became,
its alert shows delivered, and who may look depends on the admin token and the client's real address."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes
from tests.harness.processes import free_port, wait_for

pytestmark = pytest.mark.e2e
KINGSOFT = fixture_bytes("kingsoft", "alarm.json")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """One Alertmanager for the module: each test's bridge posts alerts of its own."""
    am = Alertmanager(tmp_path_factory.mktemp("alertmanager")).start()
    yield am
    am.stop()


def own_address() -> str:
    """An address of this machine that is not loopback: a client there is not local to the bridge. The
    source address of a route outward (no packet is sent), else what ``hostname -I`` lists."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: connecting a UDP socket only picks the route
        address = probe.getsockname()[0]
        if not address.startswith("127."):
            return address
    found = [a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split()
             if not a.startswith("127.") and ":" not in a]
    assert found, "this machine has no non-loopback IPv4 address"
    return found[0]


def test_a_callback_is_listed_with_its_alert_and_the_alert_shows_delivered(
        alertmanager: Alertmanager, start_bridge: Callable[..., Bridge]) -> None:
    port = free_port()
    bridge = start_bridge([alertmanager.url], f"--listen=0.0.0.0:{port}", "--token=cb-secret-1", port=port)
    api = f"{bridge.url}/api/v1"
    assert bridge.post("kingsoft", KINGSOFT, params={"token": "cb-secret-1"}).status_code == 200
    assert bridge.post("kingsoft", b'{"alarmState": ', params={"token": "cb-secret-1"}).status_code == 400

    def listed() -> list[dict]:
        found = requests.get(f"{api}/callbacks", timeout=5).json()["callbacks"]
        assert len(found) == 2  # the refused one is written a moment after its answer
        return found

    refused, accepted = wait_for(listed, 10, message="both callbacks in the journal")
    assert (accepted["outcome"], accepted["status"], accepted["vendor"]) == ("accepted", 200, "kingsoft")
    assert accepted["query"] == "token=<redacted>" and "cb-secret-1" not in accepted["body"]
    [made] = accepted["alerts"]
    assert made["labels"]["alertname"] == "cpu.util" and made["state"] == "firing"
    assert refused["outcome"] == "invalid" and refused["error"].startswith("body: not valid JSON")

    [in_alertmanager] = alertmanager.wait_for(active, alertname="cpu.util")
    assert in_alertmanager["labels"] == made["labels"]

    def delivered() -> dict:
        [shown] = requests.get(f"{api}/alerts", params={"filter": 'alertname="cpu.util"'}, timeout=5).json()["alerts"]
        assert shown["delivery"][alertmanager.url]["delivered"] is True
        return shown

    shown = wait_for(delivered, 10, message="the alert shown delivered")
    assert shown["delivery"][alertmanager.url]["up"] is True
    [target] = requests.get(f"{api}/status", timeout=5).json()["alertmanagers"]
    assert (target["name"], target["up"], target["backlog"]) == (alertmanager.url, True, 0)

    remote = f"http://{own_address()}:{bridge.port}/api/v1/callbacks"
    assert requests.get(remote, timeout=5).status_code == 403  # not loopback, no admin token configured
    # a loopback peer that says it relayed someone (a proxy on this host) lets nobody in without a token
    assert requests.get(f"{api}/callbacks", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=5).status_code == 403
    assert requests.get(f"{api}/callbacks", timeout=5).status_code == 200


def test_from_another_address_only_the_admin_token_opens_it(alertmanager: Alertmanager,
                                                             start_bridge: Callable[..., Bridge]) -> None:
    port = free_port()
    bridge = start_bridge([alertmanager.url], f"--listen=0.0.0.0:{port}", "--token=cb-secret-1", port=port,
                          env={"BRIDGE_ADMIN_TOKEN": "admin-secret-1"})
    remote = f"http://{own_address()}:{bridge.port}/api/v1/status"
    assert requests.get(remote, timeout=5).status_code == 401
    assert requests.get(remote, headers={"X-Forwarded-For": "127.0.0.1"}, timeout=5).status_code == 401
    assert requests.get(remote, headers={"Authorization": "Bearer cb-secret-1"}, timeout=5).status_code == 401
    answer = requests.get(remote, headers={"Authorization": "Bearer admin-secret-1"}, timeout=5)
    assert answer.status_code == 200
    assert "admin-secret-1" not in answer.text and "cb-secret-1" not in answer.text
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
