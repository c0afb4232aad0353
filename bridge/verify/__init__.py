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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from cryptography.hazmat.primitives.hashes import HashAlgorithm

from bridge.model import InvalidPayload
from bridge.vendors._fields import type_name


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


KINDS = {"Notification": Kind.NOTIFICATION, "SubscriptionConfirmation": Kind.SUBSCRIBE,
         "UnsubscribeConfirmation": Kind.UNSUBSCRIBE}
"""The message types, spelled alike by SNS (``Type``) and SMN (``type``)."""


def check_type(envelope: dict[str, Any], type_field: str, signature_field: str, service: str) -> Kind:
    """The envelope's kind. A type no message of ``service`` has is InvalidPayload (not its envelope at
    all), or Rejected if the body claims a signature anyway: a forgery."""
    kind = envelope.get(type_field)
    if kind in KINDS:
        return KINDS[kind]
    shown = repr(kind[:40]) if isinstance(kind, str) else "missing" if kind is None else type_name(kind)
    problem = f"{type_field}: must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation, got {shown}"
    if signature_field in envelope:
        raise Rejected(problem)
    raise InvalidPayload(f"{problem} (is this an {service} message?)")


def string_to_sign(envelope: dict[str, Any], names: tuple[str, ...], optional: Callable[[str, Any], bool]) -> bytes:
    """``name\nvalue\n`` for each of ``names`` in order, as SNS and SMN sign, leaving out a field when
    ``optional(name, value)`` says so. A value that is no string was not signed: Rejected."""
    lines = []
    for name in names:
        value = envelope.get(name)
        if optional(name, value):
            continue
        if not isinstance(value, str):
            raise Rejected(f"{name}: must be a string, got {type_name(value)}")  # SNS and SMN sign strings only
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8", "surrogatepass")


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
    certificate_field: str
    subscribe_field: str
    """The envelope's names for the certificate's URL and the subscribe URL, which refusals name."""
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
