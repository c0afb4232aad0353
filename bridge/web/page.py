"""The inspector: the page at ``GET /`` that shows what each cloud sent, what it became, and where it went.

Rendered on the server (Jinja2, autoescaped: every payload is attacker-controlled) with one small
stylesheet and no script, so it works without JavaScript and where the internet is not reachable. The
data comes from :mod:`bridge.web.inspect`, the same functions as the JSON under ``/api/v1/``.

Access is :mod:`bridge.web.admin`'s rule: the admin token, or, when none is configured, the loopback
address only. A script sends the token in ``Authorization``; a person signs in once with a form that
keeps it in an HttpOnly, SameSite=Strict cookie, never in a URL (where history, bookmarks, a proxy's
log or a Referer would keep it).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, make_response, redirect, render_template, request

from bridge import __version__
from bridge.store import StoreError
from bridge.vendors import VENDORS
from bridge.web import inspect
from bridge.web.admin import admin_refusal, admin_token_configured, header_token
from bridge.web.auth import parse_address, within
from bridge.web.errors import undecodable_query
from bridge.web.state import app_state

log = logging.getLogger(__name__)
page = Blueprint("page", __name__)
page.before_request(undecodable_query)
COOKIE = "bridge_admin"
PAGES = (("/", "Callbacks"), ("/alerts", "Alerts"), ("/try", "Try"), ("/status", "Status"))
OUTCOMES = ("refused", *inspect.CALLBACK_OUTCOMES)
PAGE_SIZE = 200


@page.app_template_filter("when")
def when(value: Any) -> str:
    """A time as UTC, to the second: unix seconds or an RFC 3339 string; a dash for none."""
    if value in (None, ""):
        return "—"
    if isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value).replace("T", " ")[:19] + ("Z" if str(value).endswith("Z") else "")


@page.app_template_filter("mib")
def mib(value: Any) -> str:
    """A size in bytes, for a person: KiB or MiB."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value / (1 << 20):.1f} MiB" if value >= 1 << 20 else f"{value / 1024:.1f} KiB"


@page.app_template_filter("pretty")
def pretty(value: Any, indent: int | None = 2) -> str:
    """JSON for a person to read, left for autoescaping to make safe (``tojson``'s \\u003c is unreadable)."""
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False)


def split_matchers(text: str) -> list[str]:
    """``a="x", b=~"y,z"`` (or amtool's ``{...}`` form) as one matcher per item: commas inside quotes stay."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    items, current, quoted, escaped = [], "", False, False
    for char in text:
        if char == "," and not quoted:
            items.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
    items.append(current)
    return [item.strip() for item in items if item.strip()]


def postable_state(alert: dict[str, Any]) -> str:
    """Firing or resolved, for an Alertmanager v2 postable alert: resolved once its endsAt has passed."""
    try:
        ends = datetime.datetime.fromisoformat(alert.get("endsAt") or "")
    except ValueError:
        return "firing"
    return "resolved" if ends <= datetime.datetime.now(datetime.UTC) else "firing"


def _token() -> str | None:
    """The admin token a request carries: ``Authorization`` (scripts), or the one the sign-in cookie stands
    for (a person); None for an unknown cookie (a rotated-away token), which is then refused and forgotten."""
    presented, cookie = header_token(request.headers), request.cookies.get(COOKIE)
    if presented or not cookie:
        return presented
    for token in app_state().settings.admin_tokens:
        if hmac.compare_digest(cookie.encode("utf-8", "surrogatepass"), cookie_value(token).encode()):
            return token
    return None


def cookie_value(token: str) -> str:
    """What the sign-in cookie holds for ``token``: a digest, not the token, which may open other things
    too (scripts' Authorization) and would otherwise reach every service on this host name, as cookies
    are not bound to a port."""
    return hmac.new(token.encode(), b"cloud-alarm-bridge inspector sign-in", hashlib.sha256).hexdigest()


def _render(template: str, title: str, code: int = 200, **context: Any) -> Response:
    response = make_response(render_template(
        template, title=title, pages=PAGES, active=request.path, version=__version__,
        signed_in=COOKIE in request.cookies, **context), code)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _denied(status: int, reason: str) -> Response:
    """The sign-in form (401) or why this address may not look (403), as a page rather than JSON."""
    configured = admin_token_configured(app_state())
    response = _render("denied.html", "Sign in" if configured else "Not from this address", status,
                       reason=reason, token_configured=configured)
    if status == 401 and request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, path="/")  # a rotated-away token: forget it
    return response


def admin_page(view: Callable[..., Response]) -> Callable[..., Response]:
    """Serve ``view`` only to an admin (token, or loopback when no token is configured); else a page saying why."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        refusal = admin_refusal(app_state(), _token(), request.remote_addr or "", request.headers)
        if refusal is not None:
            return _denied(*refusal)
        return view(*args, **kwargs)

    return guarded


@page.errorhandler(StoreError)
def store_unavailable(error: StoreError) -> Response:
    """The page says the store does not answer (the cause names hosts and paths: for the log, not the page)."""
    log.warning("inspector: the store is unavailable", extra={"error": str(error)})
    return _render("unavailable.html", "Store unavailable", 503)


@page.get("/")
@admin_page
def callbacks_page() -> Response:
    vendor = request.args.get("vendor", "")
    outcome = request.args.get("outcome", "") if request.args.get("outcome", "") in OUTCOMES else ""
    before = request.args.get("before", "")
    state = app_state()
    try:
        found = inspect.recent_callbacks(state, vendor=vendor or None, outcome=outcome or None, limit=PAGE_SIZE,
                                         before=before or None)
    except ValueError:  # a hand-edited URL: the newest ones, unfiltered
        found, vendor, outcome, before = inspect.recent_callbacks(state, limit=PAGE_SIZE), "", "", ""
    settings = state.settings
    return _render("callbacks.html", "Recent callbacks", callbacks=found, vendors=list(VENDORS),
                   outcomes=OUTCOMES, filters={"vendor": vendor, "outcome": outcome, "before": before},
                   older=found[-1]["id"] if len(found) == PAGE_SIZE else None,
                   retention=f"{settings.journal_max_callbacks} callbacks or {mib(settings.journal_max_bytes)}")


@page.get("/alerts")
@admin_page
def alerts_page() -> Response:
    matchers = [m for text in request.args.getlist("filter") for m in split_matchers(text)]
    firing_only = request.args.get("resolved") == "0"
    error = ""
    try:
        found = inspect.alerts(app_state(), matchers=matchers)
    except ValueError as exc:  # a matcher amtool would refuse too: say which, show nothing
        found, error = {"alerts": [], "alertmanagers": []}, str(exc)
    shown = [a for a in found["alerts"] if not firing_only or a.get("state") == "firing"]
    return _render("alerts.html", "Alerts", 400 if error else 200, alerts=shown,
                   alertmanagers=found["alertmanagers"], error=error, total=found.get("total", len(shown)),
                   filters={"filter": ", ".join(matchers), "resolved": not firing_only})


@page.route("/try", methods=["GET", "POST"])
@admin_page
def try_page() -> Response:
    """The form, and on POST what the pasted payload becomes (nothing stored, nothing sent)."""
    form = {"vendor": request.form.get("vendor", ""), "content_type": request.form.get("content_type", ""),
            "body": request.form.get("body", "")}
    result = None
    if request.method == "POST":
        if form["vendor"] not in VENDORS:
            result = {"ok": False, "error": f"unknown vendor; known: {', '.join(VENDORS)}"}
        else:
            result = inspect.try_payload(app_state(), form["vendor"], form["body"].encode(),
                                         form["content_type"].strip() or None)
            for alert in result.get("alerts", []):
                alert.setdefault("state", postable_state(alert))
    return _render("try.html", "Try a payload", vendors=list(VENDORS), form=form, result=result)


@page.get("/status")
@admin_page
def status_page() -> Response:
    return _render("status.html", "Status", status=inspect.status(app_state()))


@page.post("/login")
def login() -> Response:
    """Check the pasted admin token as any request's would be, then keep it in a cookie scripts cannot read."""
    token = request.form.get("token", "").strip()
    if not token and admin_token_configured(app_state()):
        return _denied(401, "enter the admin token")
    refusal = admin_refusal(app_state(), token or None, request.remote_addr or "", request.headers)
    if refusal is not None:
        return _denied(refusal[0], "wrong admin token" if token and refusal[0] == 401 else refusal[1])
    response = redirect("/", 303)
    if token:  # none when no admin token is configured: loopback alone lets this browser in
        response.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Strict", secure=_over_https(),
                            path="/")
    return response


def _over_https() -> bool:
    """Whether the browser reached us over HTTPS: gunicorn serves plain HTTP, so only a --trusted-proxy's
    X-Forwarded-Proto can say so (then the cookie is Secure: never sent over plain HTTP)."""
    peer = parse_address(request.remote_addr or "")
    return request.is_secure or (peer is not None and within(peer, app_state().guard.trusted_proxies)
                                 and request.headers.get("X-Forwarded-Proto", "").lower() == "https")


@page.post("/logout")
def logout() -> Response:
    response = redirect("/", 303)
    response.delete_cookie(COOKIE, path="/")
    return response
