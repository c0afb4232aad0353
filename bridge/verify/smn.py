"""Huawei Cloud SMN message signatures (SMN user guide, "Verifying message signatures", smn_ug_a9003).

The string to sign is ``name\\nvalue\\n`` for the envelope's signed fields in alphabetical order:
message, message_id, subject (left out when empty), timestamp, topic_urn, type for a Notification;
message, message_id, subscribe_url, timestamp, topic_urn, type for a SubscriptionConfirmation or an
UnsubscribeConfirmation. ``signature_version`` v1 (the only one) signs it with SHA256withRSA; the
signature is base64 in ``signature``, the certificate at ``signing_cert_url``. Both were checked against
real signatures with the certificate Huawei publishes (tests/fixtures/huawei/signed/).

Beyond the host patterns, what is fetched is pinned to the two documented endpoints: a certificate at
``/smn/SMN_<region>_<id>.pem`` and a confirmation at ``/smn/subscription/confirm``, so a message can
make the bridge fetch nothing else from Huawei's hosts.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes

from bridge.vendors._fields import load_json, obj
from bridge.verify import KINDS, Envelope, Kind, Rejected, Signed, check_type
from bridge.verify import string_to_sign as signed_fields

NOTIFICATION_FIELDS = ("message", "message_id", "subject", "timestamp", "topic_urn", "type")
CONFIRMATION_FIELDS = ("message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type")
HASHES = {"v1": hashes.SHA256}
"""signature_version (any case: the docs say V1, messages v1) → hash."""
CERTIFICATE_PATH = re.compile(r"/smn/SMN[_-][A-Za-z0-9_.-]{1,200}\.pem")
"""``/smn/SMN_cn-north-4_<32 hex>.pem`` as messages carry it (the API docs spell it ``SMN-<region>-<uuid>.pem``)."""
CONFIRM_PATH = "/smn/subscription/confirm"


def envelope_fields(body: bytes, max_json_depth: int) -> dict[str, Any]:
    """The envelope as a dict with a known ``type``; InvalidPayload for a body that is no SMN envelope,
    Rejected for one that claims a signature but has no SMN type (as bridge.verify.sns)."""
    envelope = obj(load_json(body, max_json_depth), "body")
    check_type(envelope, "type", "signature", "SMN")
    return envelope


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """The bytes SMN signed, from the fields its documentation lists for the message's type; "if subject is
    empty, it is not part of the signature"."""
    names = NOTIFICATION_FIELDS if envelope["type"] == "Notification" else CONFIRMATION_FIELDS
    return signed_fields(envelope, names, _blank_subject)


def _blank_subject(name: str, value: Any) -> bool:
    return name == "subject" and (value is None or (isinstance(value, str) and not value.strip()))


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


class Smn:
    name = "smn"
    certificate_field, subscribe_field = "signing_cert_url", "subscribe_url"
    default_hosts = (r"re:smn\.[a-z]{2}(?:-[a-z]+)+-[0-9]{1,3}\.myhuaweicloud\.(?:com|cn|eu)",
                     r"re:console(?:-intl)?(?:\.[a-z]{2,8})?\.huaweicloud\.com")
    """Certificates come from ``smn.<region>.myhuaweicloud.com`` (``.cn`` for cn-north-2, ``.eu`` for the
    European regions, as apache/hertzbeat lists them); subscribe URLs are on the console,
    ``console.huaweicloud.com`` or ``console-intl.huaweicloud.com`` (and ``console.<site>.huaweicloud.com``).
    The middle label is a region code, never any label: ``smn.obs.myhuaweicloud.com`` would be an OBS
    bucket named ``smn``, whose owner could serve a certificate of their own at SMN's path."""

    def open(self, body: bytes, max_json_depth: int) -> Signed:
        envelope = envelope_fields(body, max_json_depth)
        signed = string_to_sign(envelope)
        version = str(envelope.get("signature_version") or "").lower()
        if version not in HASHES:
            raise Rejected("signature_version: must be v1")
        try:
            signature = base64.b64decode(str(envelope.get("signature") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise Rejected("signature: not base64") from None
        if not signature:
            raise Rejected("signature: missing")
        certificate_url = str(envelope.get("signing_cert_url") or "")
        if not CERTIFICATE_PATH.fullmatch(_path(certificate_url)):
            raise Rejected("signing_cert_url: not an SMN certificate (/smn/SMN_<region>_<id>.pem)")
        kind = KINDS[envelope["type"]]
        subscribe_url = envelope["subscribe_url"] if kind is Kind.SUBSCRIBE else ""
        if subscribe_url and _path(subscribe_url) != CONFIRM_PATH:
            raise Rejected(f"subscribe_url: not an SMN confirmation ({CONFIRM_PATH})")
        return Signed(
            envelope=Envelope(kind=kind, topic=envelope["topic_urn"], message_id=envelope["message_id"],
                              subscribe_url=subscribe_url),
            signed_bytes=signed, signature=signature, hash=HASHES[version](), certificate_url=certificate_url)


SCHEME = Smn()
