"""Who may see the inspector (GET /, /api/v1/): it shows payloads, which carry account ids and addresses.

With an admin token configured (``--admin-token``, ``--admin-token-file``), a request must present one of
them (``Authorization: Bearer``, or the Basic password a browser prompts for; the page also takes its
sign-in cookie; never ``?token=``, which would land in history and logs); callback tokens never open it.
Without one, only loopback clients get in (``make run``, ``kubectl port-forward``): the socket peer
decides, never X-Forwarded-For, so a proxy or an ingress in front of the bridge does not expose it,
whatever the client claims; and the Host header must name loopback too (``localhost``,
``127.0.0.1``, ``[::1]``), so that a web page cannot reach it through DNS rebinding.

Every answer carries a strict Content-Security-Policy (:func:`inspector_headers`, one after_request for
the page, the API and the rest alike).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, request

from bridge.web.auth import parse_address, presented_token, token_matches
from bridge.web.errors import error_response
from bridge.web.state import AppState, app_state

F = TypeVar("F", bound=Callable[..., Any])
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
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
    would land in browser history and proxies' logs."""
    return presented_token({}, headers)


def admin_refusal(state: AppState, presented: str | None, peer: str, host: str) -> tuple[int, str] | None:
    """Why a caller may not see the inspector (status and message), or None if it may.

    ``presented``: the token the caller sent (:func:`header_token`, or the page's cookie); ``peer``: the socket
    peer's address (``request.remote_addr``, never X-Forwarded-For); ``host``: the Host header.
    """
    if admin_token_configured(state):
        if token_matches(presented, state.settings.admin_tokens):
            return None
        return 401, "the inspector needs the admin token (--admin-token): send it as Authorization: Bearer <token>"
    if loopback(peer) and loopback_host(host):
        return None
    return 403, ("the inspector answers only loopback clients unless an admin token is configured "
                 "(--admin-token); use kubectl port-forward or set one")


def refusal() -> Response | None:
    """The JSON answer refusing the current request the inspector, or None if it may see it."""
    refused = admin_refusal(app_state(), header_token(request.headers), request.remote_addr or "", request.host)
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
