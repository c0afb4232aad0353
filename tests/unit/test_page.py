"""The inspector page: its helpers (the matcher box, the state of a tried alert, times) and what it renders."""

from __future__ import annotations

import html
import re

import pytest

from bridge.settings import Settings
from bridge.web import inspect, page
from bridge.web.app import create_app
from bridge.web.page import postable_state, split_matchers, when
from tests.harness import payloads


@pytest.mark.parametrize(("typed", "matchers"), [
    ('alertname=~"cpu.*"', ['alertname=~"cpu.*"']),
    ('alertname=~"cpu.*", severity!="info"', ['alertname=~"cpu.*"', 'severity!="info"']),
    ('{vendor="tencent",host=~"a,b|c"}', ['vendor="tencent"', 'host=~"a,b|c"']),  # amtool's braces; comma quoted
    ('summary="say \\"hi, there\\"", x=y', ['summary="say \\"hi, there\\""', "x=y"]),
    (" , ", []),
])
def test_the_matcher_box_takes_amtools_syntax_one_matcher_per_comma_outside_quotes(typed: str,
                                                                                  matchers: list[str]) -> None:
    assert split_matchers(typed) == matchers


def test_a_tried_alert_is_resolved_once_its_end_has_passed() -> None:
    assert postable_state({"endsAt": "2001-01-01T00:00:00.000Z"}) == "resolved"
    assert postable_state({"endsAt": "2999-01-01T00:00:00.000Z"}) == "firing"
    assert postable_state({}) == "firing"


def test_times_read_as_utc_to_the_second() -> None:
    assert when(1_700_000_000.25) == "2023-11-14 22:13:20Z"
    assert when("2023-11-14T22:13:20.000Z") == "2023-11-14 22:13:20Z"
    assert when(None) == "—"


def test_an_alertmanagers_rejection_is_shown_with_its_message_as_text(tmp_path, monkeypatch) -> None:
    rejected = {"delivered": False, "last_success": None, "last_error": "", "last_error_at": None, "up": True,
                "rejected": 'bad label "x": <b>no</b>', "rejected_at": 1_700_000_000.0}
    monkeypatch.setattr(inspect, "alerts", lambda state, matchers=(), limit=None: {
        "alertmanagers": ["am-1"], "total": 1, "alerts": [{
            "fingerprint": "f", "state": "firing", "vendor": "tencent", "labels": {"alertname": "a"},
            "annotations": {}, "starts_at": 1_700_000_000.0, "ends_at": None, "changed_at": 1_700_000_000.0,
            "delivery": {"am-1": rejected}}]})
    app = create_app(Settings(store=f"sqlite:///{tmp_path}/bridge.db"))
    page = app.test_client().get("/alerts", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"Host": "localhost"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '>rejected<' in html and "bad label &#34;x&#34;: &lt;b&gt;no&lt;/b&gt;" in html
    assert ">delivered<" not in html


def test_the_sign_in_cookie_is_secure_when_a_trusted_proxy_says_the_browser_used_https(tmp_path) -> None:
    app = create_app(Settings(store=f"sqlite:///{tmp_path}/bridge.db", admin_tokens=("admin-secret",),
                              trusted_proxies=("10.0.0.0/8",)))
    client = app.test_client()

    def sign_in(peer: str) -> str:
        answer = client.post("/login", data={"token": "admin-secret"}, headers={"X-Forwarded-Proto": "https"},
                             environ_base={"REMOTE_ADDR": peer})
        assert answer.status_code == 303
        return answer.headers["Set-Cookie"]

    assert "Secure" in sign_in("10.1.2.3")  # the ingress terminated TLS
    cookie = sign_in("192.0.2.9")  # anyone else's X-Forwarded-Proto is not believed
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_the_sign_in_cookie_opens_the_page_without_holding_the_token(tmp_path) -> None:
    """Cookies reach every port of a host name: the cookie stands for the token, it is not the token."""
    client = create_app(Settings(store=f"sqlite:///{tmp_path}/bridge.db", admin_tokens=("admin-secret",))).test_client()
    answer = client.post("/login", data={"token": "admin-secret"}, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert answer.status_code == 303 and "admin-secret" not in answer.headers["Set-Cookie"]
    assert client.get("/status", environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 200  # the cookie works
    client.set_cookie("bridge_admin", "admin-secret")  # the raw token as a cookie is not the sign-in
    assert client.get("/status", environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 401
    client.set_cookie("bridge_admin", "\u00e9t\u00e9")  # not ASCII: refused, not a 500 from compare_digest
    assert client.get("/status", environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 401


def test_older_callbacks_are_one_link_away(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(page, "PAGE_SIZE", 2)
    client = create_app(Settings(store=f"sqlite:///{tmp_path}/bridge.db")).test_client()
    local = {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}, "headers": {"Host": "localhost"}}
    for host in ("first-host", "second-host", "third-host"):
        assert client.post("/callbacks/kingsoft", data=payloads.kingsoft(host), content_type="application/json",
                           **local).status_code == 200
    newest = client.get("/?vendor=kingsoft", **local).get_data(as_text=True)
    assert "third-host" in newest and "second-host" in newest and "first-host" not in newest
    link = re.search(r'<a href="(/\?[^"]+)">Older callbacks', newest)
    assert link, "no link to older callbacks"
    older = client.get(html.unescape(link.group(1)), **local).get_data(as_text=True)
    assert "first-host" in older and "second-host" not in older and "vendor=kingsoft" in link.group(1)
