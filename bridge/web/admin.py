"""Who may see the inspector (GET /, /api/v1/): it shows payloads, which carry account ids and addresses.

With an admin token configured (``--admin-token``, ``--admin-token-file``), a request must present one of
them (``Authorization: Bearer``, the Basic password a browser prompts for, or ``?token=``); callback
tokens never open it. Without one, only loopback clients get in (``make run``, ``kubectl port-forward``):
the socket peer decides, never X-Forwarded-For, so a proxy or an ingress in front of the bridge does not
expose it, whatever the client claims; and the Host header must name loopback too (``localhost``,
``127.0.0.1``, ``[::1]``), so that a web page cannot reach it through DNS rebinding.

Every answer of the inspector carries a strict Content-Security-Policy (:func:`inspector_headers`, one
after_request for the page and the API alike).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, request

from bridge.web.auth import parse_address, presented_token, token_matches
from bridge.web.errors import error_response
from bridge.web.state import app_state

F = TypeVar("F", bound=Callable[..., Any])
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
ADMIN_REALM = {"WWW-Authenticate": 'Basic realm="cloud-alarm-bridge admin"'}
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
                           "form-action 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
INSPECTOR_PREFIXES = ("/api/", "/static/")
"""Paths (besides ``/`` itself) whose answers get the inspector's headers."""


def loopback(remote_addr: str) -> bool:
    address = parse_address(remote_addr)
    return address is not None and any(address.version == net.version and address in net for net in LOOPBACK)


def loopback_host(host: str) -> bool:
    """Whether the Host header names this machine's loopback: a web page whose own name resolves to 127.0.0.1
    (DNS rebinding) must not read the inspector through a browser on the operator's machine."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    return name in ("localhost", "") or name.endswith(".localhost") or loopback(name)


def refusal() -> Response | None:
    """Why the current request may not see the inspector (a 401 or 403 answer), or None if it may."""
    tokens = app_state().settings.admin_tokens
    if tokens:
        if token_matches(presented_token(request.args, request.headers), tokens):
            return None
        return error_response(401, "the inspector needs the admin token (--admin-token): send it as "
                              "Authorization: Bearer <token>", ADMIN_REALM)
    if loopback(request.remote_addr or "") and loopback_host(request.host):
        return None
    return error_response(403, "the inspector answers only loopback clients unless an admin token is configured "
                          "(--admin-token); use kubectl port-forward or set one")


def admin_only(view: F) -> F:
    """Decorate a view of the inspector: it runs only for a caller :func:`refusal` lets in."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refused = refusal()
        return refused if refused is not None else view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def inspector_headers(response: Response) -> Response:
    """The page's and the API's answers: nothing from elsewhere, no framing, no referrer, no sniffing."""
    if request.path == "/" or request.path.startswith(INSPECTOR_PREFIXES):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
