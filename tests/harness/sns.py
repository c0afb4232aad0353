"""SNS envelopes as Amazon SNS posts them to an HTTP/S subscription, signed with a test CA's key.

Real captured ``Message`` bodies are kept as they are; only the envelope's signature (which cannot be
checked without AWS's certificate) is made anew, with :class:`~tests.harness.signing.TestCA`.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes

from bridge.verify.sns import string_to_sign
from tests.harness.signing import TestCA

TOPIC = "arn:aws:sns:eu-west-1:123456789012:cloud-alarm-bridge-test"
HEADERS = {"Content-Type": "text/plain; charset=UTF-8"}
"""What SNS sends by default (the x-amz-sns-* headers are added by :func:`headers_for`)."""


def envelope(message: str, *, kind: str = "Notification", topic: str = TOPIC, message_id: str = "",
             subject: str | None = None, timestamp: str = "2026-12-04T03:00:00.000Z", cert_url: str = "",
             subscribe_url: str = "", token: str = "") -> dict[str, Any]:
    """An unsigned envelope of ``kind`` (Notification, SubscriptionConfirmation, UnsubscribeConfirmation)."""
    body: dict[str, Any] = {"Type": kind, "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic}
    if kind == "Notification":
        if subject is not None:
            body["Subject"] = subject
        body["Message"] = message
        body["Timestamp"] = timestamp
        body["UnsubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
    else:
        body.update({"Token": token or "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d9276"
                     "8dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b99",
                     "Message": message, "SubscribeURL": subscribe_url, "Timestamp": timestamp})
    body["SignatureVersion"] = "1"
    body["SigningCertURL"] = cert_url
    return body


def sign(body: dict[str, Any], ca: TestCA, version: str = "1") -> dict[str, Any]:
    """``body`` with ``SignatureVersion`` and a valid ``Signature`` made by the test CA's signing key."""
    signed = {**body, "SignatureVersion": version}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed["Signature"] = base64.b64encode(ca.sign(string_to_sign(signed), algorithm)).decode()
    return signed


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=2).encode()


def headers_for(body: dict[str, Any]) -> dict[str, str]:
    return {**HEADERS, "x-amz-sns-message-type": body["Type"], "x-amz-sns-message-id": body["MessageId"],
            "x-amz-sns-topic-arn": body["TopicArn"]}


def resign(body: bytes, ca: TestCA, cert_url: str, version: str = "") -> bytes:
    """A stored envelope (tests/fixtures/aws) with its certificate URL moved to ``cert_url`` and signed anew by
    the test CA; every other field, the real ``Message`` above all, is kept as it is."""
    envelope_ = json.loads(body)
    envelope_["SigningCertURL"] = cert_url
    return encoded(sign(envelope_, ca, version or envelope_.get("SignatureVersion") or "1"))
