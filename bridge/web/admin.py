"""Who may see the inspector (GET /, /api/v1/): it shows payloads, which carry account ids and addresses.

With an admin token configured (``--admin-token``, ``--admin-token-file``), a request must present one of
them (``Authorization: Bearer``, or the Basic password a browser prompts for; the page also takes its
sign-in cookie; never ``?token=``, which would land in history and logs); callback tokens never open it.
Without one, only a client on this machine's own loopback gets in (``make run``, ``kubectl
port-forward``): the socket peer must be exactly 127.0.0.1 or ::1 (a service mesh's sidecar connects from
other loopback addresses, 127.0.0.6), must not be a ``--trusted-proxy``, and the request must carry no
forwarding header (X-Forwarded-For, Forwarded, X-Real-IP, Via…): a proxy in front of the bridge, on this
host or in this pod, then does not expose it, whatever the client claims. The Host header must name
loopback too (``localhost``, ``127.0.0.1``, ``[::1]``), so that a web page cannot reach it through DNS
rebinding. A proxy on the same host that adds no header and rewrites Host to 127.0.0.1 cannot be told
apart from a local client: behind one, configure an admin token (SECURITY.md).

Every answer carries a strict Content-Security-Policy (:func:`inspector_headers`, one after_request for
the page, the API and the rest alike).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, request

from bridge.web.auth import Network, authorization_token, parse_address, token_matches
from bridge.web.errors import error_response
from bridge.web.state import AppState, app_state

F = TypeVar("F", bound=Callable[..., Any])
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
"""Loopback names in a Host header (any of 127/8 is this machine)."""
LOCAL_PEERS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
"""The socket peers that may look without a token: a local client, not a sidecar on another loopback address."""
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host", "X-Forwarded-Proto",
                      "X-Original-Forwarded-For", "Via")
"""Any of these says a proxy relayed the request: its client is not on this machine."""
ADMIN_REALM = {"WWW-Authenticate": 'Basic realm="cloud-alarm-bridge admin"'}
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
"""No script, no fetch, nothing from elsewhere: the page is server-rendered HTML and a stylesheet."""


def loopback(remote_addr: str) -> bool:
    address = parse_address(remote_addr)
    return address is not None and any(address.version == net.version and address in net for net in LOOPBACK)


def loopback_host(host: str) -> bool:
    """Whether the Host header names this machine's loopback: a web page whose own name resolves to 127.0.0.1
    (DNS rebinding) must not read the inspector through a browser on the operator's machine."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    return name in ("localhost", "") or name.endswith(".localhost") or loopback(name)


def admin_token_configured(state: AppState) -> bool:
    return bool(state.settings.admin_tokens)


def header_token(headers: Mapping[str, str]) -> str | None:
    """The admin token of ``Authorization`` (Bearer, or the Basic password); never the query string, where it
    would land in browser history and proxies' logs, nor a vendor's ``Token:`` header."""
    return authorization_token(headers)


def local_client(peer: str, headers: Mapping[str, str], trusted_proxies: tuple[Network, ...]) -> bool:
    """Whether the request comes from a client on this machine, not through a proxy (see the module)."""
    address = parse_address(peer)
    if address not in LOCAL_PEERS or any(address.version == net.version and address in net for net in trusted_proxies):
        return False
    return not any(name in headers for name in FORWARDING_HEADERS)


def admin_refusal(state: AppState, presented: str | None, peer: str,
                  headers: Mapping[str, str]) -> tuple[int, str] | None:
    """Why a caller may not see the inspector (status and message), or None if it may.

    ``presented``: the token the caller sent (:func:`header_token`, or the page's cookie); ``peer``: the socket
    peer's address (``request.remote_addr``, never X-Forwarded-For); ``headers``: the request's (Host, and
    whether a proxy relayed it).
    """
    if admin_token_configured(state):
        if token_matches(presented, state.settings.admin_tokens):
            return None
        return 401, "the inspector needs the admin token (--admin-token): send it as Authorization: Bearer <token>"
    local = local_client(peer, headers, state.guard.trusted_proxies)
    if local and loopback_host(headers.get("Host", "")):
        return None
    return 403, ("the inspector answers only loopback clients unless an admin token is configured "
                 "(--admin-token); use kubectl port-forward or set one")


def refusal() -> Response | None:
    """The JSON answer refusing the current request the inspector, or None if it may see it."""
    refused = admin_refusal(app_state(), header_token(request.headers), request.remote_addr or "", request.headers)
    if refused is None:
        return None
    status, message = refused
    return error_response(status, message, ADMIN_REALM if status == 401 else None)


def admin_only(view: F) -> F:
    """Decorate a view of the inspector: it runs only for a caller :func:`refusal` lets in."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refused = refusal()
        return refused if refused is not None else view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def inspector_headers(response: Response) -> Response:
    """Every answer (the page's, the API's, and the JSON of the others alike, so no path is forgotten):
    nothing from elsewhere, no framing, no referrer."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
