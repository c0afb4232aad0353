"""Shared-secret tokens for callbacks: ``?token=``, ``Authorization: Bearer``, or the Basic password.

Tencent's console only offers ``http://user:pass@host/...`` (Basic auth) and no vendor signs its
callbacks in a way that can be verified, so a secret in the URL or header is the guard.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence


def presented_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The token a request carries, from whichever place it uses."""
    if query.get("token"):
        return query["token"]
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def token_matches(presented: str | None, accepted: Sequence[str]) -> bool:
    """Compare against every accepted token in constant time (no early exit on a match)."""
    if presented is None:
        return False
    given = presented.encode("utf-8", "surrogatepass")
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(given, token.encode("utf-8"))
    return matched
