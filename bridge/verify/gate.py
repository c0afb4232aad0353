"""The receive stage's check of a signed push, before the vendor parses it.

Order: decode the envelope (400 if it is none), refuse a topic outside ``--allow-topic`` (403, nothing
fetched), fetch the signing certificate from the service's own hosts (cached) and check the signature
(403). Then a subscription confirmation is confirmed, once, by fetching its subscribe URL on the same
hosts; an unsubscribe confirmation is logged and never followed; a notification goes on to the vendor.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding

from bridge.verify import Envelope, Kind, Rejected, Scheme, schemes
from bridge.verify.certificates import MAX_CONFIRMATION_BYTES, Certificates, Fetcher, HostRule, Trust

log = logging.getLogger(__name__)

CONFIRMED_KEPT = 1024
"""Subscription confirmations remembered per process, so that a repeat (the service retrying after a
lost answer) is not fetched again."""


class Topics:
    """``--allow-topic`` patterns for one vendor (``*`` matches any run of characters); none: any topic."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)

    def allows(self, topic: str) -> bool:
        return not self.patterns or any(fnmatch.fnmatchcase(topic, pattern) for pattern in self.patterns)


class Gate:
    """One vendor's check of signed pushes (one per worker process: it holds the certificate cache)."""

    def __init__(self, vendor: str, scheme: Scheme, trust: Trust, topics: Topics, max_json_depth: int) -> None:
        self.vendor = vendor
        self.scheme = scheme
        self.fetcher = Fetcher(trust)
        self.certificates = Certificates(self.fetcher, scheme.certificate_field)
        self.topics = topics
        self.max_json_depth = max_json_depth
        self._confirmed: OrderedDict[str, None] = OrderedDict()
        self._confirm_lock = threading.Lock()
        self.confirmations = 0
        """Subscribe URLs fetched by this process."""

    def admit(self, body: bytes) -> Envelope:
        """The verified envelope; raise InvalidPayload (400), Rejected (403) or Unavailable (503)."""
        signed = self.scheme.open(body, self.max_json_depth)
        envelope = signed.envelope
        if not self.topics.allows(envelope.topic):
            raise Rejected(f"topic {envelope.topic[:256]!r} is not allowed (--allow-topic)")
        key = self.certificates.public_key(signed.certificate_url)
        try:
            key.verify(signed.signature, signed.signed_bytes, padding.PKCS1v15(), signed.hash)
        except InvalidSignature:
            raise Rejected("signature: does not match the message") from None
        if envelope.kind is Kind.SUBSCRIBE:
            self._confirm(envelope)
        elif envelope.kind is Kind.UNSUBSCRIBE:
            log.warning("the service confirmed that this endpoint was unsubscribed from a topic; nothing fetched",
                        extra={"vendor": self.vendor, "topic": envelope.topic, "message_id": envelope.message_id})
        return envelope

    def _confirm(self, envelope: Envelope) -> None:
        """Fetch the subscribe URL once per confirmation message (a repeat is answered without a fetch)."""
        with self._confirm_lock:  # rare: a second copy waits for the first instead of fetching too
            if envelope.message_id in self._confirmed:
                log.info("subscription already confirmed", extra={"vendor": self.vendor, "topic": envelope.topic})
                return
            self.fetcher.get(envelope.subscribe_url, self.scheme.subscribe_field, MAX_CONFIRMATION_BYTES)
            self.confirmations += 1
            self._confirmed[envelope.message_id] = None
            while len(self._confirmed) > CONFIRMED_KEPT:
                self._confirmed.popitem(last=False)
        log.warning("confirmed the subscription of this endpoint to a topic",
                    extra={"vendor": self.vendor, "topic": envelope.topic})


@dataclass(frozen=True)
class GateSettings:
    """What the gates are built from (the web tier passes the settings' values)."""

    signing_hosts: Mapping[str, tuple[str, ...]]
    signing_ca_files: Mapping[str, tuple[str, ...]]
    allow_topics: Mapping[str, tuple[str, ...]]
    max_json_depth: int


def gates_for(signed_by: Mapping[str, str], settings: GateSettings) -> dict[str, Gate]:
    """A gate for each vendor that declares ``signed_by``: its scheme's hosts plus ``--signing-host``,
    the system CAs plus ``--signing-ca-file``, and its ``--allow-topic`` patterns."""
    gates = {}
    for vendor, scheme_name in signed_by.items():
        scheme = schemes()[scheme_name]
        hosts = HostRule((*scheme.default_hosts, *settings.signing_hosts.get(vendor, ())))
        trust = Trust(hosts, settings.signing_ca_files.get(vendor, ()))
        gates[vendor] = Gate(vendor, scheme, trust, Topics(settings.allow_topics.get(vendor, ())),
                             settings.max_json_depth)
    return gates
