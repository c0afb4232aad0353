"""Who may post callbacks: shared-secret tokens and source-network allowlists.

Tokens come as ``?token=``, ``Authorization: Bearer``, the Basic password, or a ``Token`` header: Tencent's
console only offers ``http://user:pass@host/...``, Volcengine's "interface encryption" sends ``Token: <token>``,
and no vendor signs its callbacks in a way that can be verified (Alibaba's ``signature`` algorithm is not
public), so a secret in the URL or header is the guard.
Both checks run on the request line and headers only, before the body is read.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.settings import Settings

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def presented_token(query: Mapping[str, str], headers: Mapping[str, str] | Headers) -> str | None:
    """The callback token a request carries, from whichever place its vendor uses: ``?token=``,
    ``Authorization`` (Bearer, or the Basic password), or Volcengine's ``Token:`` header."""
    if query.get("token"):
        return query["token"]
    return authorization_token(headers) or headers.get("Token", "").strip() or None


def authorization_token(headers: Mapping[str, str] | Headers) -> str | None:
    """The token of ``Authorization``: Bearer, or the Basic password (what a browser prompts for)."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic":
        try:  # ValueError: a non-ASCII header value (binascii.Error is one too)
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except ValueError:
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


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def parse_address(text: str) -> Address | None:
    """An IP address, IPv4-mapped IPv6 unwrapped; None for anything else (ports, names, garbage)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def within(address: Address, nets: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def client_address(remote_addr: str, forwarded_for: str, trusted: Sequence[Network]) -> Address | None:
    """The client's address: the peer's, or, when the peer is a trusted proxy, from X-Forwarded-For.

    Walks X-Forwarded-For from the right (the hop nearest us) and skips trusted proxies; the first
    untrusted hop is the client. Entries left of it were written by the client and are ignored, so
    a client cannot spoof its address. An unparsable hop gives None: the source is unknown.
    """
    peer = parse_address(remote_addr)
    if peer is None or not within(peer, trusted):
        return peer
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None or not within(address, trusted):
            return address
    return address


@dataclass(frozen=True)
class Guard:
    """The token and source-network policy for each vendor, resolved once from the settings."""

    tokens: tuple[str, ...] = field(default=(), repr=False)
    vendor_tokens: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    allowed: tuple[Network, ...] = ()
    vendor_allowed: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Guard:
        return cls(
            tokens=settings.tokens,
            vendor_tokens=dict(settings.vendor_tokens),
            allowed=networks(settings.allow_cidrs),
            vendor_allowed={v: networks(c) for v, c in settings.vendor_allow_cidrs.items()},
            trusted_proxies=networks(settings.trusted_proxies),
        )

    @property
    def requires_token(self) -> bool:
        """Once any token is configured, every vendor needs one (fail closed, never open by omission)."""
        return bool(self.tokens or any(self.vendor_tokens.values()))

    def accepted_tokens(self, vendor: str) -> tuple[str, ...]:
        """The global tokens plus this vendor's own."""
        return self.tokens + tuple(self.vendor_tokens.get(vendor, ()))

    def token_ok(self, vendor: str, presented: str | None) -> bool:
        return not self.requires_token or token_matches(presented, self.accepted_tokens(vendor))

    def source_ok(self, vendor: str | None, remote_addr: str, forwarded_for: str) -> bool:
        """Whether the client may call this vendor's URL: its own list if it has one, else the global one.
        ``vendor`` None: an operator's endpoint that changes the bridge (/-/reload), under the global list."""
        allowed = (self.vendor_allowed.get(vendor) if vendor else None) or self.allowed
        if not allowed:
            return True
        address = client_address(remote_addr, forwarded_for, self.trusted_proxies)
        return address is not None and within(address, allowed)
