"""Alertmanager replicas found by DNS: every replica an answer names gets every alert, as from Prometheus.

Real Alertmanagers listen on several loopback addresses (127.0.0.2, .3, .4 all reach lo) on one port,
as the pods behind a headless Service do; a real DNS server the test controls answers the bridge's
lookups (``--dns-server``), and the test changes its answer as a rollout would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.harness.alertmanager import Alertmanager, hosts
from tests.harness.bridge_process import Bridge
from tests.harness.dns_server import DnsServer
from tests.harness.payloads import kingsoft
from tests.harness.processes import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    yield server
    server.close()


def fire(bridge: Bridge, host: str) -> None:
    assert bridge.post("kingsoft", kingsoft(host, timestamp=int(time.time()))).status_code == 200


def test_every_replica_an_a_answer_names_gets_every_alert_and_a_removed_one_stops(
        dns_server: DnsServer, start_bridge: Callable[..., Bridge],
        new_alertmanager: Callable[..., Alertmanager]) -> None:
    port = free_port()
    am2, am3, am4 = (new_alertmanager(f"am{i}", host=f"127.0.0.{i}", port=port).start() for i in (2, 3, 4))
    dns_server.set("alertmanager.test", "A", "127.0.0.2", "127.0.0.3")
    # A re-send interval of an hour: anything a replica gets within this test came from its cursor or
    # from the full re-send a newly found replica gets at once.
    bridge = start_bridge([f"dns+http://alertmanager.test:{port}"], f"--dns-server={dns_server.address}",
                          "--alertmanager-refresh-interval=0.5s", "--resend-interval=1h")
    fire(bridge, "before-rollout")
    for am in (am2, am3):
        am.wait_for(lambda a: hosts(a) == {"before-rollout"}, timeout=10, message=f"the alarm at {am.url}")

    dns_server.set("alertmanager.test", "A", "127.0.0.3", "127.0.0.4")  # a rollout replaced .2 by .4
    am4.wait_for(lambda a: hosts(a) == {"before-rollout"}, timeout=10,
                 message="the new replica gets what fires at once")
    fire(bridge, "after-rollout")
    for am in (am3, am4):
        am.wait_for(lambda a: hosts(a) == {"before-rollout", "after-rollout"}, timeout=10,
                    message=f"the new alarm at {am.url}")
    time.sleep(1)  # a removed replica that were still a target would have had it by now
    assert hosts(am2.alerts()) == {"before-rollout"}

    metrics = bridge.metrics()
    up = {line.split('"')[1] for line in metrics.splitlines()
          if line.startswith("cloud_alarm_bridge_alertmanager_up{")}
    assert up == {f"http://127.0.0.3:{port}", f"http://127.0.0.4:{port}"}, metrics
    assert (f'cloud_alarm_bridge_alertmanager_discovered_targets{{address="dns+http://alertmanager.test:{port}"}}'
            " 2.0") in metrics


def test_every_replica_an_srv_answer_names_gets_every_alert(
        dns_server: DnsServer, start_bridge: Callable[..., Bridge],
        new_alertmanager: Callable[..., Alertmanager]) -> None:
    # SRV records carry each replica's port (a StatefulSet's pods: one name each); the hosts they
    # name are reached by name, through the system's resolver: localhost here.
    am0, am1 = new_alertmanager("am0").start(), new_alertmanager("am1").start()
    dns_server.set("_web._tcp.alertmanager.test", "SRV", f"0 50 {am0.port} localhost.", f"0 50 {am1.port} localhost.")
    bridge = start_bridge(["dnssrv+http://_web._tcp.alertmanager.test"], f"--dns-server={dns_server.address}",
                          "--alertmanager-refresh-interval=0.5s")
    fire(bridge, "srv")
    for am in (am0, am1):
        am.wait_for(lambda a: hosts(a) == {"srv"}, timeout=10, message=f"the alarm at {am.url}")
    assert f'alertmanager="http://localhost:{am1.port}"' in bridge.metrics()
