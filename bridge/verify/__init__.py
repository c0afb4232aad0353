"""Signed pushes: a cloud's notification service signs every message, and the bridge checks it before use.

AWS SNS and Huawei Cloud SMN post an envelope signed with a key whose certificate sits at a URL on the
service's own hosts. A vendor whose callbacks arrive that way says so with ``signed_by = "<scheme>"``
(the name of a module here that defines ``SCHEME``); the receive stage then passes every body through
a :class:`~bridge.verify.gate.Gate` before the vendor parses it. Vendor parsers stay pure: they read
the envelope's message and never fetch anything (``translate`` runs them without a check).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives.hashes import HashAlgorithm


class Rejected(Exception):
    """The message is not one the bridge may act on (bad signature, foreign certificate host, unknown
    topic): answered 403. The text names the reason and never quotes the body."""


class Unavailable(Exception):
    """A fetch the check needs (signing certificate, subscription confirmation) failed or timed out:
    answered 503, so the service retries later."""


class Kind(StrEnum):
    NOTIFICATION = "notification"
    SUBSCRIBE = "subscription_confirmation"
    UNSUBSCRIBE = "unsubscribe_confirmation"


@dataclass(frozen=True)
class Envelope:
    """What a verified envelope says about itself; the vendor parser reads the rest."""

    kind: Kind
    topic: str
    """The topic's ARN (SNS) or URN (SMN): what ``--allow-topic`` matches."""
    message_id: str
    subscribe_url: str = ""
    """Only for :attr:`Kind.SUBSCRIBE`: the URL whose fetch confirms the subscription."""


@dataclass(frozen=True)
class Signed:
    """A decoded envelope and what its signature check needs; :mod:`bridge.verify.gate` checks it."""

    envelope: Envelope
    signed_bytes: bytes
    """The string to sign that the scheme builds from the envelope's fields."""
    signature: bytes
    hash: HashAlgorithm
    """RSA PKCS#1 v1.5 with this hash (SHA1withRSA, SHA256withRSA)."""
    certificate_url: str


class Scheme(Protocol):
    """One notification service's signature scheme."""

    name: str
    default_hosts: tuple[str, ...]
    """Host patterns (:class:`~bridge.verify.certificates.HostRule`) of the service's own endpoints:
    the only hosts certificates and subscribe URLs are fetched from, unless ``--signing-host`` adds one."""

    def open(self, body: bytes, max_json_depth: int) -> Signed:
        """Decode the envelope and build its string to sign; raise InvalidPayload for a body that is no
        envelope of this service, Rejected for an unusable signature (unknown version, not base64).
        Pure: the gate fetches the certificate and checks the signature."""
        ...


@functools.cache
def schemes() -> Mapping[str, Scheme]:
    """Every module here that defines ``SCHEME``, by ``SCHEME.name`` (found on first use: the modules
    import this package)."""
    found: dict[str, Scheme] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        scheme = getattr(module, "SCHEME", None)
        if scheme is not None:
            found[scheme.name] = scheme
    return found
