"""Alertmanager addresses found by DNS: every replica an answer names becomes its own delivery target.

Alertmanager replicas share silences and the notification log by gossip, not alerts, so a client must
send every alert to every replica, as Prometheus does. Behind one name (Kubernetes' headless Service
``alertmanager-operated``) a POST reaches one replica; the address forms of Thanos and Cortex name the
set instead:

- ``dns+http://HOST:PORT/PREFIX``: the A and AAAA records of HOST, each address a target on PORT;
- ``dnssrv+http://_web._tcp.HOST/PREFIX``: the SRV records of the name, each record's host and port a
  target. The host is kept as a name (``alertmanager-main-0.alertmanager-operated...``), so a
  StatefulSet replica keeps its target, cursor and metrics series across restarts and TLS checks the
  name it was issued for.

Answers are looked up again every refresh interval. A failed lookup keeps the last answer (a DNS
hiccup must not retire healthy replicas); an empty answer (no such name, no records) has no targets.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

import dns.exception
import dns.resolver

from bridge.settings import DEFAULT_PORTS, DNS_PREFIX, SRV_PREFIX, AlertmanagerTarget, discovered

log = logging.getLogger(__name__)


class DiscoveryError(RuntimeError):
    """A lookup failed (timeout, server failure): the last answer stays in force."""


@dataclass(frozen=True)
class Resolver:
    """Looks names up: the system's resolver (``/etc/hosts``, ``/etc/resolv.conf``) unless ``nameserver``
    (``HOST`` or ``HOST:PORT``, e.g. a Consul agent's ``127.0.0.1:8600``) is given."""

    nameserver: str = ""
    timeout: float = 5.0

    def _dns(self) -> dns.resolver.Resolver:
        if not self.nameserver:
            resolver = dns.resolver.Resolver()
        else:
            resolver = dns.resolver.Resolver(configure=False)
            host, port = split_host_port(self.nameserver, 53)
            resolver.nameservers, resolver.port = [host], port
        resolver.lifetime = self.timeout
        return resolver

    def _query(self, name: str, rdtype: str) -> list:
        try:
            return list(self._dns().resolve(name, rdtype, search=True))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DiscoveryError(f"{rdtype} lookup of {name}: {exc}") from None

    def addresses(self, host: str) -> list[str]:
        """The host's IPv4 and IPv6 addresses, sorted."""
        if self.nameserver:
            found = [r.address for rdtype in ("A", "AAAA") for r in self._query(host, rdtype)]
        else:
            try:
                infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
                    return []
                raise DiscoveryError(f"lookup of {host}: {exc.strerror}") from None
            found = [str(info[4][0]) for info in infos if "%" not in str(info[4][0])]  # no link-local scopes
        return sorted(set(found), key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))

    def services(self, name: str) -> list[tuple[str, int]]:
        """The SRV records' (host, port) pairs, sorted; weights and priorities do not matter, all get alerts."""
        return sorted({(r.target.to_text(omit_final_dot=True), int(r.port)) for r in self._query(name, "SRV")})


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port or (":" in host and not host.startswith("[")):
        return text.strip("[]"), default_port
    return host.strip("[]"), int(port)


def expand(target: AlertmanagerTarget, resolver: Resolver) -> list[AlertmanagerTarget]:
    """The concrete targets a configured one stands for: itself, or one per replica the DNS answer names.

    Each keeps the configured path, credentials, headers and TLS; it is named by its URL (without
    credentials), or ``NAME (HOST:PORT)`` when the configured entry has a name of its own.
    """
    if not discovered(target.url):
        return [target]
    srv = target.url.startswith(SRV_PREFIX)
    parts = urlsplit(target.url.removeprefix(SRV_PREFIX if srv else DNS_PREFIX))
    host = parts.hostname or ""
    if srv:
        endpoints = resolver.services(host)
    else:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        endpoints = [(address, port) for address in resolver.addresses(host)]
    userinfo = parts.netloc.rpartition("@")[0]
    own_name = target.name != target.url_name
    found = []
    for address, port in endpoints:
        hostport = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        url = urlunsplit((parts.scheme, f"{userinfo}@{hostport}" if userinfo else hostport, parts.path,
                          parts.query, ""))
        concrete = replace(target, url=url, name="")
        found.append(replace(concrete, name=f"{target.name} ({hostport})") if own_name else concrete)
    return found


class TargetSet:
    """The configured targets with discovered ones expanded, looked up again every ``refresh`` seconds.

    Thread-safe: the delivery loop's discovery thread and the scrape threads of the web server read it.
    """

    def __init__(self, configured: Sequence[AlertmanagerTarget], refresh: float, resolver: Resolver | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.configured = tuple(configured)
        self.refresh = refresh
        self.resolver = resolver or Resolver()
        self.clock = clock
        self.dynamic = any(discovered(t.url) for t in self.configured)
        self._answers: dict[int, list[AlertmanagerTarget]] = {
            i: [t] for i, t in enumerate(self.configured) if not discovered(t.url)}
        self._next = 0.0
        self._lock = threading.Lock()

    def targets(self) -> list[AlertmanagerTarget]:
        """The targets of the last answers, without looking anything up; one per name, in configured order."""
        with self._lock:
            answers = dict(self._answers)
        unique: dict[str, AlertmanagerTarget] = {}
        for index in sorted(answers):
            for target in answers[index]:
                unique.setdefault(target.name, target)
        return list(unique.values())

    def discovered_counts(self) -> dict[str, int]:
        """How many targets each discovered address stands for in the last answers (0 before the first)."""
        with self._lock:
            return {t.name: len(self._answers.get(i, ())) for i, t in enumerate(self.configured) if discovered(t.url)}

    def current(self) -> list[AlertmanagerTarget]:
        """The targets, looked up again first if the refresh interval has passed."""
        if self.dynamic and self.clock() >= self._next:
            self.resolve()
        return self.targets()

    def resolve(self) -> None:
        """Look every discovered address up now; log what changed."""
        self._next = self.clock() + self.refresh
        before = {t.name for t in self.targets()}
        for index, target in enumerate(self.configured):
            if not discovered(target.url):
                continue
            try:
                answer = expand(target, self.resolver)
            except (DiscoveryError, OSError, ValueError) as exc:
                log.warning("alertmanager lookup failed; keeping the last answer",
                            extra={"alertmanager": target.name, "error": str(exc)})
                continue
            with self._lock:
                had = self._answers.get(index)
                self._answers[index] = answer
            if not answer and had != []:  # once per empty spell, at start too: nothing is delivered there
                log.warning("no alertmanager found at this address; check the name, namespace and port name",
                            extra={"alertmanager": target.name})
        after = {t.name for t in self.targets()}
        if before != after:
            log.info("alertmanagers discovered", extra={
                "added": sorted(after - before), "removed": sorted(before - after), "alertmanagers": sorted(after)})
