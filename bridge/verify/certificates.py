"""Fetching from a notification service's own hosts: signing certificates (cached) and subscribe URLs.

A signed message names the URL of its certificate; whoever forges a message names a certificate of
their own. So a URL is fetched only if it is ``https``, its host matches one of the service's host
patterns (``sns.<region>.amazonaws.com``…) and the host's TLS certificate is valid for it under the
system's CAs: then the certificate came from the service. Redirects are never followed (a 3xx is a
failure), answers are small and bounded, timeouts short. Tests (and private endpoints) add a host
pattern and a CA bundle for one vendor (``--signing-host``, ``--signing-ca-file``); the defaults trust
the real hosts and the system CAs only.

A fetch blocks the request thread that needs it (never the worker's event loop, which only buffers
requests: bridge.run.worker), for at most :data:`TIMEOUT`; the certificate is then cached per worker
process, so steady state costs no fetch. At most :data:`MAX_CONCURRENT_FETCHES` fetches run at once
per process, and a message that would start a third is answered 503 at once (SNS retries), so messages
naming many certificates cannot take every request thread.
"""

from __future__ import annotations

import http.client
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bridge.verify import Rejected, Unavailable

TIMEOUT = 5.0
"""Seconds for one fetch (connect, and each read). SNS waits 15 s for an answer; a certificate fetch
plus the rest of the callback stays well inside it."""
MAX_CERTIFICATE_BYTES = 16 * 1024
MAX_CONFIRMATION_BYTES = 64 * 1024
CACHE_SIZE = 32
"""Certificates kept per process: a service signs with one or two at a time (per region), and rotates
them rarely."""
FAILURE_TTL = 10.0
"""A failed fetch is not retried for this long: a burst of messages naming a dead URL costs one fetch."""
MAX_CONCURRENT_FETCHES = 2
_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"


class Busy(Unavailable):
    """No fetch slot was free: nothing was fetched, so nothing is known about the URL (never cached)."""


class HostRule:
    """Host patterns: a regular expression (``re:`` prefix; the services' defaults), an exact name or IP
    address, or a glob whose ``*`` stands for one DNS label (``*.example.test``)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        parts = [p[3:] if p.startswith("re:") else _LABEL.join(re.escape(x) for x in p.lower().split("*"))
                 for p in self.patterns]
        self._regex = re.compile("|".join(f"(?:{part})" for part in parts) or "(?!)")

    def matches(self, host: str) -> bool:
        return bool(self._regex.fullmatch(host.lower().rstrip(".")))


def checked_url(url: str, hosts: HostRule, what: str) -> tuple[str, int, str]:
    """``(host, port, path?query)`` of an https URL on an allowed host; Rejected otherwise (never fetched)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise Rejected(f"{what}: not a valid URL") from None
    if parts.scheme != "https":
        raise Rejected(f"{what}: must be an https URL")
    host = parts.hostname or ""
    if parts.username or parts.password or not hosts.matches(host):
        raise Rejected(f"{what}: host {host[:100]!r} is not one of the service's hosts")
    return host, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class Trust:
    """Where one vendor's certificates and subscribe URLs may come from."""

    hosts: HostRule
    ca_files: tuple[str, ...] = ()
    """CA bundles trusted besides the system's (tests; a private endpoint)."""

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        for ca_file in self.ca_files:
            context.load_verify_locations(cafile=ca_file)
        return context


class Fetcher:
    """GET on the trusted hosts only: https, no redirects, bounded size and time, few at once."""

    def __init__(self, trust: Trust, timeout: float = TIMEOUT) -> None:
        self.trust = trust
        self.timeout = timeout
        self._context = trust.tls_context()
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_FETCHES)
        self.requests = 0
        """GETs sent (tests read it)."""

    def get(self, url: str, what: str, max_bytes: int) -> bytes:
        """The body of a 200 answer; Rejected for a URL that may not be fetched, Unavailable if it fails."""
        host, port, target = checked_url(url, self.trust.hosts, what)
        if not self._slots.acquire(blocking=False):  # waiting would hold one more request thread
            raise Busy(f"{what}: too many fetches under way; retry later")
        self.requests += 1
        try:
            connection = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._context)
            try:
                connection.request("GET", target, headers={"User-Agent": "cloud-alarm-bridge",
                                                           "Accept-Encoding": "identity"})
                response = connection.getresponse()
                body = response.read(max_bytes + 1)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError and timeouts are OSErrors
            raise Unavailable(f"{what}: fetching from {host} failed ({type(exc).__name__})") from None
        finally:
            self._slots.release()
        if response.status != 200:  # a redirect included: never followed
            raise Unavailable(f"{what}: {host} answered {response.status}")
        if len(body) > max_bytes:
            raise Unavailable(f"{what}: {host} answered more than {max_bytes} bytes")
        return body


class Certificates:
    """Signing certificates' public keys by URL: fetched once, cached (LRU, :data:`CACHE_SIZE`)."""

    def __init__(self, fetcher: Fetcher, field: str = "SigningCertURL", clock: Callable[[], float] = time.time) -> None:
        self.fetcher = fetcher
        self.field = field
        """The envelope's name for the certificate's URL, which a refusal names (SNS and SMN spell it apart)."""
        self._clock = clock
        self._cache: OrderedDict[str, tuple[RSAPublicKey, float]] = OrderedDict()
        self._failed: dict[str, tuple[float, Exception]] = {}
        self._lock = threading.Lock()
        self._url_locks: dict[str, threading.Lock] = {}

    def public_key(self, url: str) -> RSAPublicKey:
        """The RSA key of the certificate at ``url``; Rejected or Unavailable as :meth:`Fetcher.get`."""
        checked_url(url, self.fetcher.trust.hosts, self.field)  # refused before any lock or fetch
        cached = self._cached(url)
        if cached is not None:
            return cached
        with self._lock:
            url_lock = self._url_locks.setdefault(url, threading.Lock())
        with url_lock:  # one fetch per URL, however many messages wait for it
            cached = self._cached(url)
            if cached is not None:
                return cached
            failed = self._failed.get(url)
            if failed and failed[0] > self._clock():
                raise failed[1]
            try:
                key, not_after = self._fetch(url)
            except Busy:  # nothing was fetched: the next message may try at once
                with self._lock:
                    self._url_locks.pop(url, None)
                raise
            except (Rejected, Unavailable) as exc:
                with self._lock:  # bounded: a failure costs a real fetch, and expired ones are dropped here
                    self._failed = {u: f for u, f in self._failed.items() if f[0] > self._clock()}
                    self._failed[url] = (self._clock() + FAILURE_TTL, exc)
                    self._url_locks.pop(url, None)
                raise
            with self._lock:
                self._cache[url] = (key, not_after)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
                self._url_locks.pop(url, None)
            return key

    def _cached(self, url: str) -> RSAPublicKey | None:
        with self._lock:
            entry = self._cache.get(url)
            if entry is None:
                return None
            if entry[1] < self._clock():  # expired since it was fetched: fetch it again
                del self._cache[url]
                return None
            self._cache.move_to_end(url)
            return entry[0]

    def _fetch(self, url: str) -> tuple[RSAPublicKey, float]:
        pem = self.fetcher.get(url, self.field, MAX_CERTIFICATE_BYTES)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise Unavailable(f"{self.field}: the answer is not a PEM certificate") from None
        now = self._clock()
        if not certificate.not_valid_before_utc.timestamp() <= now <= certificate.not_valid_after_utc.timestamp():
            raise Rejected(f"{self.field}: the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, RSAPublicKey):
            raise Rejected(f"{self.field}: the signing certificate's key is not RSA")
        return key, certificate.not_valid_after_utc.timestamp()
