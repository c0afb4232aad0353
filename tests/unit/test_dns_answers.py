"""Discovered Alertmanager addresses: what each DNS answer turns into, and what a failed lookup keeps."""

from __future__ import annotations

import argparse

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from bridge import discovery
from bridge.discovery import DiscoveryError, Resolver, TargetSet, expand
from bridge.options import add_arguments
from bridge.rules.loading import load_settings
from bridge.settings import AlertmanagerTarget, ConfigError


class FakeResolver(Resolver):
    """Answers from dicts the test sets; ``fail`` makes every lookup fail as a DNS timeout would."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "a", {})
        object.__setattr__(self, "srv", {})
        object.__setattr__(self, "fail", False)

    def addresses(self, host: str) -> list[str]:
        if self.fail:
            raise DiscoveryError("timed out")
        return self.a.get(host, [])

    def _query(self, name: str, rdtype: str) -> list:
        if self.fail:
            raise DiscoveryError("timed out")
        return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SRV, text) for text in self.srv.get(name, [])]


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_an_a_answer_makes_one_target_per_address_keeping_path_credentials_and_tls() -> None:
    resolver = FakeResolver()
    resolver.a["am.monitoring"] = ["10.0.0.7", "fd00::7"]
    target = AlertmanagerTarget("dns+https://bridge:s3cret@am.monitoring:9093/am", bearer_token="",
                                headers={"X-Scope-OrgID": "t1"})
    found = expand(target, resolver)
    assert [t.url for t in found] == ["https://bridge:s3cret@10.0.0.7:9093/am", "https://bridge:s3cret@[fd00::7]:9093/am"]
    assert [t.name for t in found] == ["https://10.0.0.7:9093/am", "https://[fd00::7]:9093/am"]
    assert all(t.headers == {"X-Scope-OrgID": "t1"} for t in found)
    assert found[0].alerts_url == "https://bridge:s3cret@10.0.0.7:9093/am/api/v2/alerts"


def test_an_srv_answer_makes_one_target_per_record_named_by_its_host_and_port() -> None:
    resolver = FakeResolver()
    resolver.srv["_web._tcp.alertmanager-operated.monitoring.svc"] = [
        "0 50 9093 alertmanager-main-1.alertmanager-operated.monitoring.svc.cluster.local.",
        "0 50 9093 alertmanager-main-0.alertmanager-operated.monitoring.svc.cluster.local."]
    found = expand(AlertmanagerTarget("dnssrv+http://_web._tcp.alertmanager-operated.monitoring.svc", name="main"),
                   resolver)
    assert [t.url for t in found] == [
        f"http://alertmanager-main-{i}.alertmanager-operated.monitoring.svc.cluster.local:9093" for i in (0, 1)]
    assert found[0].name == "main (alertmanager-main-0.alertmanager-operated.monitoring.svc.cluster.local:9093)"


def test_the_system_resolver_answers_dns_addresses_from_etc_hosts() -> None:
    found = expand(AlertmanagerTarget("dns+http://localhost:9093"), Resolver())
    assert "http://127.0.0.1:9093" in [t.url for t in found]
    assert expand(AlertmanagerTarget("dns+http://no-such-host.invalid:9093"), Resolver()) == []


def test_a_failed_lookup_keeps_the_last_answer_and_an_empty_one_retires_every_target() -> None:
    now = [0.0]
    resolver = FakeResolver()
    resolver.a["am"] = ["10.0.0.1", "10.0.0.2"]
    static = AlertmanagerTarget("http://other:9093")
    targets = TargetSet([AlertmanagerTarget("dns+http://am:9093"), static], refresh=30, resolver=resolver,
                        clock=lambda: now[0])
    assert [t.name for t in targets.current()] == ["http://10.0.0.1:9093", "http://10.0.0.2:9093", "http://other:9093"]
    resolver.a["am"] = ["10.0.0.2", "10.0.0.3"]
    now[0] = 29
    assert len(targets.current()) == 3 and targets.current()[0].name == "http://10.0.0.1:9093"  # not yet due
    now[0] = 30
    assert [t.name for t in targets.current()][:2] == ["http://10.0.0.2:9093", "http://10.0.0.3:9093"]
    resolver.fail, now[0] = True, 60
    assert [t.name for t in targets.current()][:2] == ["http://10.0.0.2:9093", "http://10.0.0.3:9093"]
    resolver.fail, resolver.a["am"], now[0] = False, [], 90
    assert [t.name for t in targets.current()] == ["http://other:9093"]
    assert targets.discovered_counts() == {"dns+http://am:9093": 0}


def test_discovery_options_are_checked() -> None:
    settings = load_settings(args("--alertmanager-url", "dnssrv+http://_web._tcp.am.monitoring",
                                  "--dns-server", "10.96.0.10:53"), {"BRIDGE_ALERTMANAGER_REFRESH_INTERVAL": "10s"})
    assert (settings.alertmanager_refresh_interval, settings.dns_server) == (10.0, "10.96.0.10:53")
    assert load_settings(args(), {}).alertmanager_refresh_interval == 30.0
    with pytest.raises(ConfigError) as error:
        load_settings(args("--alertmanager-url", "dnssrv+http://_web._tcp.am:9093", "--alertmanager-url",
                           "dns+ftp://am:21", "--dns-server", "kube-dns"), {})
    text = str(error.value)
    assert "must leave the port out: dnssrv+ takes the ports from the SRV records" in text
    assert "must start with dns+http:// or dns+https://" in text
    assert "give the DNS server's IP address" in text


def test_split_host_port() -> None:
    assert discovery.split_host_port("10.0.0.1:8600", 53) == ("10.0.0.1", 8600)
    assert discovery.split_host_port("fd00::1", 53) == ("fd00::1", 53)
    assert discovery.split_host_port("[fd00::1]:5353", 53) == ("fd00::1", 5353)


def test_an_address_that_names_no_replica_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    resolver = FakeResolver()
    targets = TargetSet([AlertmanagerTarget("dnssrv+http://_web._tcp.alertmanager-operated.monitorin.svc")],
                        refresh=30, resolver=resolver, clock=lambda: now[0])
    for now[0] in (0, 30, 60):
        assert targets.current() == []
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        "no alertmanager found at this address; check the name, namespace and port name"]
