"""SMN envelopes as Huawei Cloud SMN posts them to an HTTP(S) subscription, signed with a test CA's key.

Real captured ``message`` bodies (tests/fixtures/huawei/) are kept as they are; only the envelope's
signature (which cannot be made without Huawei's key) is made anew, with :class:`~tests.harness.signing.TestCA`.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes

from bridge.verify.smn import string_to_sign
from tests.harness.signing import TestCA

TOPIC = "urn:smn:cn-north-4:0a1b2c3d4e5f40718293a4b5c6d7e8f9:CES_notification_group_test"
CERTIFICATE_PATH = "/smn/SMN_cn-north-4_0f1e2d3c4b5a69788796a5b4c3d2e1f0.pem"
CONFIRM_PATH = "/smn/subscription/confirm"
UNSUBSCRIBE_PATH = "/smn/subscription/unsubscribe"


def envelope(message: str, *, kind: str = "Notification", topic: str = TOPIC, message_id: str = "",
             subject: str | None = "[Huawei Cloud][Critical Alarm] Cloud Eye notification",
             timestamp: str = "2026-12-04T03:00:00Z", cert_url: str = "", base: str = "") -> dict[str, Any]:
    """An unsigned envelope of ``kind`` (Notification, SubscriptionConfirmation, UnsubscribeConfirmation);
    its subscribe and unsubscribe URLs on ``base`` (the test server)."""
    body: dict[str, Any] = {"topic_urn": topic, "message_id": message_id or uuid.uuid4().hex, "type": kind,
                            "message": message, "timestamp": timestamp, "signature_version": "v1",
                            "signing_cert_url": cert_url}
    if kind == "Notification":
        if subject is not None:
            body["subject"] = subject
        body["unsubscribe_url"] = f"{base}{UNSUBSCRIBE_PATH}?region=cn-north-4&subscription_urn={topic}:0123"
    else:
        body["subscribe_url"] = f"{base}{CONFIRM_PATH}?token={uuid.uuid4().hex}&topic_urn={topic}&region=cn-north-4"
    return body


def sign(body: dict[str, Any], ca: TestCA) -> dict[str, Any]:
    """``body`` with a valid ``signature`` (SHA256withRSA, as signature_version v1) by the test CA's key."""
    return {**body, "signature": base64.b64encode(ca.sign(string_to_sign(body), hashes.SHA256())).decode()}


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, indent=2).encode()


def headers_for(body: dict[str, Any]) -> dict[str, str]:
    """The headers SMN sends (case-insensitive; the body, not these, is what is signed)."""
    return {"Content-Type": "application/json; charset=UTF-8", "X-SMN-MESSAGE-TYPE": body["type"],
            "X-SMN-MESSAGE-ID": body["message_id"], "X-SMN-TOPIC-URN": body["topic_urn"]}


def resign(body: bytes, ca: TestCA, cert_url: str) -> bytes:
    """A stored envelope (tests/fixtures/huawei) with its certificate URL moved to ``cert_url`` and signed anew
    by the test CA; every other field, the real ``message`` above all, is kept as it is."""
    return encoded(sign({**json.loads(body), "signing_cert_url": cert_url}, ca))
