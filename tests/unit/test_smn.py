"""SMN signatures: the scheme checks Huawei's own signatures, and refuses what it must never fetch."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding

from bridge.model import InvalidPayload
from bridge.verify import Kind, Rejected
from bridge.verify.certificates import HostRule
from bridge.verify.gate import GateSettings, gates_for
from bridge.verify.smn import SCHEME, string_to_sign
from tests.harness.fixtures import FIXTURES

SIGNED = FIXTURES / "huawei" / "signed"
HUAWEI_KEY = x509.load_pem_x509_certificate((SIGNED / "huawei-smn-signing-cert.pem").read_bytes()).public_key()
"""The certificate Huawei publishes for SMN message signatures."""


def signed(name: str) -> dict:
    return json.loads((SIGNED / name).read_bytes())


def verify(body: dict) -> Kind:
    """Open ``body`` as the gate does and check its signature with Huawei's published key."""
    opened = SCHEME.open(json.dumps(body, ensure_ascii=False).encode(), 32)
    HUAWEI_KEY.verify(opened.signature, opened.signed_bytes, padding.PKCS1v15(), opened.hash)
    return opened.envelope.kind


@pytest.mark.parametrize(("name", "kind"), [("notification-template-dcs.json", Kind.NOTIFICATION),
                                            ("subscription-confirmation.json", Kind.SUBSCRIBE)])
def test_real_smn_signatures_verify_with_huaweis_certificate(name: str, kind: Kind) -> None:
    assert verify(signed(name)) is kind


@pytest.mark.parametrize("field", ["message", "message_id", "subject", "timestamp", "topic_urn"])
def test_a_changed_byte_of_any_signed_field_fails(field: str) -> None:
    body = signed("notification-template-dcs.json")
    body[field] = body[field][:-1] + ("0" if body[field][-1] != "0" else "1")
    with pytest.raises(InvalidSignature):
        verify(body)


def test_the_subject_is_signed_only_when_there_is_one() -> None:
    body = {"type": "Notification", "message": "m", "message_id": "i", "timestamp": "t", "topic_urn": "u"}
    assert string_to_sign({**body, "subject": ""}) == string_to_sign(body) == (
        b"message\nm\nmessage_id\ni\ntimestamp\nt\ntopic_urn\nu\ntype\nNotification\n")


def test_what_the_envelope_says_is_what_the_gate_acts_on() -> None:
    opened = SCHEME.open((SIGNED / "subscription-confirmation.json").read_bytes(), 32)
    assert opened.envelope.topic == ("urn:smn:cn-north-4:477a784601d744e4ab9ab83986502d31:"
                                     "CES_notification_group_bngJ2aMpX")
    assert opened.envelope.subscribe_url.startswith("https://console.huaweicloud.com/smn/subscription/confirm?token=")
    assert opened.certificate_url.startswith("https://smn.cn-north-4.myhuaweicloud.com/smn/SMN_cn-north-4_")


@pytest.mark.parametrize(("change", "reason"), [
    ({"signature_version": "v2"}, "signature_version: must be v1"),
    ({"signature": "not base64!"}, "signature: not base64"),
    ({"signature": ""}, "signature: missing"),
    ({"signing_cert_url": "https://smn.cn-north-4.myhuaweicloud.com/smn/anything.txt"}, "signing_cert_url: not an SMN"),
    ({"subscribe_url": "https://console.huaweicloud.com/iam/delete-everything"}, "subscribe_url: not an SMN conf"),
])
def test_what_cannot_be_checked_or_must_not_be_fetched_is_rejected(change: dict, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        SCHEME.open(json.dumps({**signed("subscription-confirmation.json"), **change}).encode(), 32)


@pytest.mark.parametrize("body", [{"Type": "Notification"}, {"type": "Other"}, [1]])
def test_a_body_that_is_no_smn_envelope_is_invalid(body) -> None:
    with pytest.raises(InvalidPayload):
        SCHEME.open(json.dumps(body).encode(), 32)


@pytest.mark.parametrize(("change", "reason"), [({"type": "Other"}, "type: must be"),
                                                ({"message": 1}, "message: must be a string")])
def test_a_signed_body_no_smn_message_could_be_is_a_forgery(change: dict, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        SCHEME.open(json.dumps({**signed("notification-template-dcs.json"), **change}).encode(), 32)


@pytest.mark.parametrize(("host", "allowed"), [
    ("smn.cn-north-4.myhuaweicloud.com", True), ("smn.cn-north-2.myhuaweicloud.cn", True),
    ("smn.eu-west-101.myhuaweicloud.eu", True), ("console.huaweicloud.com", True),
    ("console-intl.huaweicloud.com", True),
    ("smn.cn-north-4.myhuaweicloud.com.evil.test", False), ("myhuaweicloud.com", False),
    ("smn.cn-north-4.evilmyhuaweicloud.com", False), ("console.huaweicloud.com.cn", False), ("127.0.0.1", False),
    ("smn.ap-southeast-1.myhuaweicloud.com", True), ("smn.la-south-2.myhuaweicloud.com", True),
    ("smn.obs.myhuaweicloud.com", False),  # an OBS bucket named "smn" on the global endpoint: anyone's
    ("smn.obs.cn-north-4.myhuaweicloud.com", False), ("console.x-1.y.huaweicloud.com", False),
])
def test_certificates_and_confirmations_come_only_from_huaweis_hosts(host: str, allowed: bool) -> None:
    assert HostRule(SCHEME.default_hosts).matches(host) is allowed


@pytest.mark.parametrize(("url", "reason"), [
    ("https://smn.cn-north-4.myhuaweicloud.com.evil.test/smn/SMN_cn-north-4_x.pem", "signing_cert_url: "),
    ("http://smn.cn-north-4.myhuaweicloud.com/smn/SMN_cn-north-4_x.pem", "signing_cert_url: ")])
def test_a_refused_certificate_url_is_named_as_smn_spells_it(url: str, reason: str) -> None:
    """The operator greps the 403 for the field of the message they saved (SNS says SigningCertURL)."""
    gate = gates_for({"huawei": "smn"}, GateSettings({}, {}, {}, 32))["huawei"]
    body = {**signed("notification-template-dcs.json"), "signing_cert_url": url}
    with pytest.raises(Rejected, match=reason) as refused:
        gate.admit(json.dumps(body).encode())
    assert "SigningCertURL" not in str(refused.value) and gate.fetcher.requests == 0
