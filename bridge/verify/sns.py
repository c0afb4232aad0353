"""Amazon SNS message signatures ("Verifying the signatures of Amazon SNS messages", AWS SNS developer guide).

The string to sign is ``Key\\nValue\\n`` for a fixed list of the envelope's fields in a fixed order:
Message, MessageId, Subject (only if the message has one), Timestamp, TopicArn, Type for a Notification;
Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type for a SubscriptionConfirmation or an
UnsubscribeConfirmation. ``SignatureVersion`` 1 signs it with SHA1withRSA, 2 with SHA256withRSA; the
signature is base64 in ``Signature``, the certificate at ``SigningCertURL`` on an SNS host.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives import hashes

from bridge.model import InvalidPayload
from bridge.vendors._fields import load_json, obj
from bridge.verify import KINDS, Envelope, Kind, Rejected, Signed, check_type
from bridge.verify import string_to_sign as signed_fields

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
"""SignatureVersion → hash; SHA-1 only because SNS still signs with it unless the topic asks for 2."""


def envelope_fields(body: bytes, max_json_depth: int) -> dict[str, Any]:
    """The envelope as a dict with a known ``Type``; InvalidPayload for a body that is no SNS envelope."""
    envelope = obj(load_json(body, max_json_depth), "body")
    if envelope.get("Type") not in KINDS and "AlarmName" in envelope:  # the alarm without its signed envelope
        raise InvalidPayload("a CloudWatch alarm without its SNS envelope: turn raw message delivery off in "
                             "the subscription, so that SNS sends the signed envelope")
    check_type(envelope, "Type", "Signature", "SNS")
    return envelope


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """The bytes SNS signed, from the fields its documentation lists for the message's type."""
    names = NOTIFICATION_FIELDS if envelope["Type"] == "Notification" else CONFIRMATION_FIELDS
    return signed_fields(envelope, names, lambda name, value: name == "Subject" and value is None)


class Sns:
    name = "sns"
    certificate_field, subscribe_field = "SigningCertURL", "SubscribeURL"
    default_hosts = (r"re:sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(?:\.cn)?",)
    """``sns.<region>.amazonaws.com``, and ``.com.cn`` in the China partition; the middle label is a region
    code (``us-east-1``, ``us-gov-west-1``, ``cn-northwest-1``), not any label as in AWS's SDK validators:
    those also match ``sns.s3-us-west-2.amazonaws.com``, an S3 bucket named ``sns`` whose owner serves a
    certificate of their own there (nathforge/validatesns#6)."""

    def open(self, body: bytes, max_json_depth: int) -> Signed:
        envelope = envelope_fields(body, max_json_depth)
        signed = string_to_sign(envelope)
        version = envelope.get("SignatureVersion")
        if version not in HASHES:
            raise Rejected("SignatureVersion: must be 1 or 2")
        try:
            signature = base64.b64decode(str(envelope.get("Signature") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise Rejected("Signature: not base64") from None
        if not signature:
            raise Rejected("Signature: missing")
        kind = KINDS[envelope["Type"]]
        return Signed(
            envelope=Envelope(kind=kind, topic=envelope["TopicArn"], message_id=envelope["MessageId"],
                              subscribe_url=envelope["SubscribeURL"] if kind is Kind.SUBSCRIBE else ""),
            signed_bytes=signed, signature=signature, hash=HASHES[version](),
            certificate_url=str(envelope.get("SigningCertURL") or ""))


SCHEME = Sns()
