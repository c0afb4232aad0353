"""Stored samples of signed pushes (AWS SNS, Huawei SMN) made postable to a bridge that checks signatures.

A sample's signature cannot be checked here (it needs the cloud's certificate, or the sample was redacted),
so it is signed anew with the test CA's key, its certificate URL pointing at the test HTTPS server; the
bridge trusts that server through :func:`trust_env`. Samples of vendors that sign nothing pass unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bridge.vendors import VENDORS
from tests.harness import smn, sns
from tests.harness.signing import SigningServer, TestCA

SIGNERS: dict[str, tuple[Callable[[dict[str, Any], TestCA], dict[str, Any]], str, str]] = {
    "sns": (sns.sign, "SigningCertURL", "/SimpleNotificationService-samples.pem"),
    "smn": (smn.sign, "signing_cert_url", "/smn/SMN_cn-north-4_5a3b1c0d9e8f47a6b5c4d3e2f1a0b9c8.pem"),
}
"""Scheme → (signer, the envelope's certificate URL field, where the test server serves the certificate)."""


def signed_sample(vendor: str, body: bytes, server: SigningServer) -> bytes:
    """``body`` signed for ``server`` if ``vendor``'s pushes are signed, else ``body`` itself."""
    scheme = getattr(VENDORS[vendor], "signed_by", "")
    if not scheme:
        return body
    sign, field, path = SIGNERS[scheme]
    envelope = {**json.loads(body), field: server.serve_certificate(path)}
    return json.dumps(sign(envelope, server.ca), ensure_ascii=False).encode()


def trust_env(server: SigningServer) -> dict[str, str]:
    """Environment that makes a bridge trust ``server`` for every signed vendor's certificates."""
    signed = [name for name, vendor in VENDORS.items() if getattr(vendor, "signed_by", "")]
    return {"BRIDGE_SIGNING_HOSTS": ",".join(f"{name}=127.0.0.1" for name in signed),
            "BRIDGE_SIGNING_CA_FILES": ",".join(f"{name}={server.ca.ca_path}" for name in signed)}
