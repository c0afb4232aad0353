"""The inspector's JSON (/api/v1/): what each callback was and became, secrets redacted; the alerts with their
delivery; "try a payload"; the status; and who may see any of it."""

from __future__ import annotations

import ast
import base64
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge import metrics, web
from bridge.rules.loading import load_settings
from bridge.settings import AlertmanagerTarget, Settings
from bridge.store import CallbackRecord
from bridge.store.sqlite import SqliteStore
from bridge.verify import Kind
from bridge.web import page
from bridge.web.admin import CONTENT_SECURITY_POLICY
from bridge.web.journal import BODY_CAP, RefusedWriter, capped_body, redact
from tests.harness.fixtures import fixture_bytes
from tests.harness.processes import wait_for

KINGSOFT = fixture_bytes("kingsoft", "alarm.json")
ADMIN = "admin-secret-1"
CALLBACK = "callback-secret-1"


def callbacks(c: FlaskClient, **query: str) -> list[dict]:
    response = c.get("/api/v1/callbacks", query_string=query)
    assert response.status_code == 200, response.json
    return response.json["callbacks"]


# --- redaction --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "secret"), [
    ('{"Type": "Notification", "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7f"}',
     "EXAMPLEpH"),  # AWS SNS
    ('{"message_id": "1", "signature": "b2fe2a8d4c0d43d8ab0e9a"}', "b2fe2a8d"),  # Huawei SMN
    ('{"SubscribeURL": "https://sns.example/?Action=ConfirmSubscription&Token=2336412f37fb687f5d51e6e2"}', "2336412f"),
    ("alertName=cpu&signature=8a7c6e5f4d3c&userId=1", "8a7c6e5f"),  # an Alibaba form
    ('{"callback": "https://bridge:hunter2secret@example.com/x"}', "hunter2secret"),
    ('{"headers": "Authorization: Basic dXNlcjpodW50ZXIy"}', "dXNlcjpodW50ZXIy"),
    ("POST /x HTTP/1.1\r\nauthorization: Bearer abc.def-ghi\r\n", "abc.def-ghi"),
    ('{"token": 1234567, "a": 1}', "1234567"),
    ('{"note": "posted with our-own-callback-token inside"}', "our-own-callback-token"),
    ('{"password": "with \\" an escaped quote"}', "escaped quote"),
])
def test_secrets_in_a_body_are_redacted(text: str, secret: str) -> None:
    shown = redact(text, ["our-own-callback-token"])
    assert secret not in shown
    assert "<redacted>" in shown


def test_a_recorded_sns_subscription_confirmation_stays_valid_json_with_its_tokens_redacted() -> None:
    raw = fixture_bytes("aws", "handshakes/alerta-subscription-confirmation.json")
    original, shown = json.loads(raw), json.loads(capped_body(raw)[0])
    assert shown["Token"] == shown["Signature"] == "<redacted>"
    url, token = original["SubscribeURL"].split("&Token=")
    assert shown["SubscribeURL"] == f"{url}&Token=<redacted>"
    assert token not in json.dumps(shown)
    assert {k: v for k, v in shown.items() if k not in ("Token", "Signature", "SubscribeURL")} == {
        k: v for k, v in original.items() if k not in ("Token", "Signature", "SubscribeURL")}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"subscribe_url":"https://smn.example/confirm?token=abc123","after":"kept"}',  # compact JSON (Huawei)
     {"subscribe_url": "https://smn.example/confirm?token=<redacted>", "after": "kept"}),
    ('{"SubscribeURL":"https://sns.example/?Action=ConfirmSubscription\\u0026Token=2336412f37fb687f","n":1}',
     {"SubscribeURL": "https://sns.example/?Action=ConfirmSubscription&Token=<redacted>", "n": 1}),  # Go's escape
    ('{"url":"https://x.example/?signature=ab\\/cd\\u0026next=1"}', {"url": "https://x.example/?signature=<redacted>&next=1"}),
])
def test_a_secret_in_a_url_inside_json_is_redacted_and_the_json_stays_valid(text: str, expected: dict) -> None:
    assert json.loads(redact(text)) == expected


def test_words_that_only_look_like_secrets_are_left_alone() -> None:
    text = '{"policyTypeCName": "CVM - basic monitoring", "designation": "web", "url": "https://console.example/x"}'
    assert redact(text) == text


def test_a_long_body_is_cut_and_a_secret_at_the_cut_is_still_redacted() -> None:
    body = ('{"pad": "' + "x" * (BODY_CAP - 30) + '", "token": "' + "s" * 5000 + '"}').encode()
    shown, cut = capped_body(body)
    assert cut
    assert len(shown.encode()) <= BODY_CAP
    assert "sssss" not in shown
    assert capped_body(b'{"a": 1}') == ('{"a": 1}', False)


def test_a_body_that_is_not_utf8_is_shown_with_replacement_characters() -> None:
    shown, _ = capped_body(b'{"a": "\xff\xfe"}')
    assert shown == '{"a": "\ufffd\ufffd"}'


# --- the journal through the app -------------------------------------------------------------------------

def test_callbacks_accepted_and_refused_are_listed_newest_first_with_what_they_became(
        make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(tokens=(CALLBACK,))
    assert c.post(f"/callbacks/kingsoft?token={CALLBACK}", data=KINGSOFT,
                  content_type="application/json").status_code == 200
    assert c.post("/callbacks/kingsoft?token=wrong-guess", data=KINGSOFT,
                  content_type="application/json").status_code == 401
    assert c.post(f"/callbacks/tencent?token={CALLBACK}", data=b'{"signature": "abcdef12", "x":',
                  content_type="application/json").status_code == 400
    assert c.post(f"/callbacks/alibaba?token={CALLBACK}", data=b"{}").status_code == 404
    assert c.get(f"/callbacks/aliyun?token={CALLBACK}").status_code == 200  # the console checks the URL
    listed = wait_for(lambda: (found := callbacks(c)) and len(found) == 5 and found, message="5 callbacks")
    assert [(r["vendor"], r["outcome"], r["status"]) for r in listed] == [
        ("aliyun", "url_check", 200), ("alibaba", "unknown_vendor", 404), ("tencent", "invalid", 400),
        ("kingsoft", "unauthorized", 401), ("kingsoft", "accepted", 200)]
    _, unknown, invalid, unauthorized, accepted = listed
    assert "unknown vendor 'alibaba'" in unknown["error"]
    assert invalid["error"].startswith("body: not valid JSON")
    assert invalid["body"] == '{"signature": "<redacted>", "x":'
    assert unauthorized["error"] == "missing or wrong token"
    assert unauthorized["body"] == "" and unauthorized["body_bytes"] == len(KINGSOFT)  # a refused body is not read
    assert "wrong-guess" not in json.dumps(listed) and CALLBACK not in json.dumps(listed)
    assert accepted["body"] == KINGSOFT.decode()
    assert accepted["source"] == "127.0.0.1"
    [made] = accepted["alerts"]
    assert (made["labels"]["alertname"], made["state"], made["outcome"]) == ("cpu.util", "firing", "changed")
    assert made["annotations"]["threshold"] == "> 50"
    assert [r["outcome"] for r in callbacks(c, outcome="refused")] == ["unknown_vendor", "invalid", "unauthorized"]
    assert [r["vendor"] for r in callbacks(c, outcome="url_check")] == ["aliyun"]
    assert [r["vendor"] for r in callbacks(c, vendor="kingsoft", outcome="accepted")] == ["kingsoft"]
    assert len(callbacks(c, limit="1")) == 1


@pytest.mark.parametrize(("query", "message"), [
    ({"outcome": "bogus"}, "unknown outcome 'bogus'"), ({"limit": "0"}, "limit must be a number from 1 to 1000"),
    ({"limit": "many"}, "limit must be"), ({"before": "x"}, "before must be a callback id")])
def test_a_bad_filter_is_a_400_naming_it(client: FlaskClient, query: dict, message: str) -> None:
    response = client.get("/api/v1/callbacks", query_string=query)
    assert response.status_code == 400
    assert message in response.json["error"]


def recordable_outcomes() -> set[str]:
    """Every outcome the web tier can give a callback, read from its source: ``Refusal(status, outcome, ...)``,
    ``g.outcome = ...`` and ``g.journal_outcome = ...``, the kinds of a signed push, and the counted ones."""
    found = set(metrics.CALLBACK_OUTCOMES) | {kind.value for kind in Kind if kind is not Kind.NOTIFICATION}
    for module in Path(web.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Refusal" and len(node.args) > 1:
                found.add(ast.literal_eval(node.args[1]))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    pairs = (zip(target.elts, node.value.elts, strict=True) if isinstance(target, ast.Tuple)
                             and isinstance(node.value, ast.Tuple) else [(target, node.value)])
                    for name, value in pairs:
                        if (isinstance(name, ast.Attribute) and name.attr in ("outcome", "journal_outcome")
                                and getattr(name.value, "id", "") == "g" and isinstance(value, ast.Constant)):
                            found.add(value.value)
    return found


def test_every_outcome_the_bridge_records_is_a_filter_of_the_api_and_the_page(client: FlaskClient) -> None:
    outcomes = recordable_outcomes()
    assert {"url_check", "unknown_vendor", "unauthorized", "ignored", "store_disk_full"} <= outcomes  # the scan works
    for outcome in sorted(outcomes):
        response = client.get("/api/v1/callbacks", query_string={"outcome": outcome})
        assert response.status_code == 200, response.json
    assert set(page.OUTCOMES) == outcomes | {"refused"}


def test_callbacks_answered_2xx_are_not_refused(client: FlaskClient, store: SqliteStore) -> None:
    def record(outcome: str, status: int) -> CallbackRecord:
        return CallbackRecord(received_at=time.time(), vendor="aws", source="10.0.0.1", outcome=outcome, status=status)

    store.record_callbacks([record("subscription_confirmation", 200), record("unsubscribe_confirmation", 200),
                            record("ignored", 200), record("url_check", 200), record("unverified", 403),
                            record("store_disk_full", 503)])
    assert [r["outcome"] for r in callbacks(client, outcome="refused")] == ["store_disk_full", "unverified"]
    assert [r["outcome"] for r in callbacks(client, outcome="ignored")] == ["ignored"]
    shown = client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"Host": "localhost"})
    styles = dict((outcome, style) for style, outcome in re.findall(
        r'<span class="state (\w+)">(\w+)</span>', shown.get_data(as_text=True)))
    assert styles == {"subscription_confirmation": "pending", "unsubscribe_confirmation": "pending",
                      "ignored": "pending", "url_check": "pending", "unverified": "refused",
                      "store_disk_full": "refused"}


# --- alerts, try, status -----------------------------------------------------------------------------------

def test_alerts_are_filtered_by_amtool_matchers_and_show_each_alertmanagers_delivery(
        make_client: Callable[..., FlaskClient], store: SqliteStore) -> None:
    c = make_client(alertmanagers=(AlertmanagerTarget("http://am-1:9093"),))
    c.post("/callbacks/kingsoft", data=KINGSOFT, content_type="application/json")
    c.post("/callbacks/tencent", data=fixture_bytes("tencent", "metric-firing.json"), content_type="application/json")
    answer = c.get("/api/v1/alerts").json
    assert answer["alertmanagers"] == ["http://am-1:9093"] and answer["total"] == 2
    [kingsoft] = c.get("/api/v1/alerts", query_string={"filter": 'alertname=~"cpu[.].*"'}).json["alerts"]
    assert kingsoft["vendor"] == "kingsoft"
    assert kingsoft["delivery"]["http://am-1:9093"]["delivered"] is False
    assert [a["vendor"] for a in c.get("/api/v1/alerts?filter=vendor!=kingsoft").json["alerts"]] == ["tencent"]
    store.register_targets(["http://am-1:9093"])  # as the delivery loop does; its cursor starts at the newest change
    store.record_failure("http://am-1:9093", 1.0, "HTTP 422: bad labels")
    delivery = c.get("/api/v1/alerts", query_string={"filter": "vendor=kingsoft"}).json["alerts"][0]["delivery"]
    assert delivery["http://am-1:9093"] == {"delivered": True, "last_success": None, "up": False,
                                            "last_error": "HTTP 422: bad labels", "last_error_at": 1.0,
                                            "rejected": "", "rejected_at": None}
    [stored] = [s for s in store.active("", 10, 0, 1e12) if s.alert.vendor == "kingsoft"]
    store.record_rejections("http://am-1:9093", [(stored.fingerprint, stored.seq, "HTTP 400: invalid label")], 2.0)
    delivery = c.get("/api/v1/alerts", query_string={"filter": "vendor=kingsoft"}).json["alerts"][0]["delivery"]
    assert delivery["http://am-1:9093"]["rejected"] == "HTTP 400: invalid label"
    assert delivery["http://am-1:9093"]["delivered"] is False
    bad = c.get("/api/v1/alerts", query_string={"filter": "alertname=~("})
    assert bad.status_code == 400 and "invalid regex" in bad.json["error"]


def test_try_shows_what_a_payload_becomes_and_stores_nothing(client: FlaskClient, store: SqliteStore) -> None:
    answer = client.post("/api/v1/try", json={"vendor": "kingsoft", "body": KINGSOFT.decode()}).json
    assert answer["ok"] is True
    [made] = answer["alerts"]
    assert made["labels"]["alertname"] == "cpu.util" and made["startsAt"] == "2019-01-10T03:47:47.000Z"
    assert store.stats([], 0).total == 0
    assert callbacks(client) == []
    invalid = client.post("/api/v1/try", json={"vendor": "tencent", "body": "{not json"}).json
    assert invalid["ok"] is False and invalid["error"].startswith("body: not valid JSON")
    unknown = client.post("/api/v1/try", json={"vendor": "nope", "body": "{}"}).json
    assert unknown["ok"] is False and "unknown vendor 'nope'" in unknown["error"]
    assert client.post("/api/v1/try", data="vendor=kingsoft").status_code == 400


def test_status_shows_the_configuration_with_every_secret_redacted(tmp_path: Path, store: SqliteStore) -> None:
    from bridge.web.app import create_app
    config = tmp_path / "bridge.yml"
    config.write_text("alertmanagers:\n- url: http://am:9093\n  basic_auth: {username: u, password: am-password-1}\n"
                      "  headers: {X-Scope-OrgID: tenant-a, X-Api-Key: header-secret-1}\n")
    settings = load_settings(None, {"BRIDGE_TOKEN": CALLBACK, "BRIDGE_VENDOR_TOKENS": "aliyun=vendor-secret-1",
                                           "BRIDGE_CONFIG": str(config),
                                           "BRIDGE_STORE": "redis://:redis-password-1@redis:6379/0"})
    status = create_app(settings, store=store).test_client().get("/api/v1/status").json
    shown = json.dumps(status)
    for secret in (CALLBACK, "vendor-secret-1", "am-password-1", "header-secret-1", "redis-password-1"):
        assert secret not in shown
    assert status["config"]["alertmanagers"][0]["headers"]["X-Scope-OrgID"] == "tenant-a"
    assert status["alertmanagers"][0]["name"] == "http://am:9093 (tenant tenant-a)" or \
        status["alertmanagers"][0]["name"].startswith("http://am:9093")
    assert status["store"]["type"] == "redis" and status["rules"]["generation"] == 0
    assert status["store"]["journal"]["max_callbacks"] == 1000
    assert status["version"]


# --- who may see it --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/callbacks", "/api/v1/alerts", "/api/v1/status"])
def test_without_an_admin_token_only_loopback_gets_in(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200
    assert client.get(path, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get(path, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    assert client.get(path, headers={"Host": "attacker.example"}).status_code == 403  # DNS rebinding


@pytest.mark.parametrize(("peer", "headers"), [
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),  # nginx on this host, proxying the internet
    ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
    ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}),
    ("127.0.0.1", {"Via": "1.1 proxy"}),
    ("127.0.0.6", {}),  # Istio's sidecar relays every inbound connection from 127.0.0.6
    ("127.0.0.1", {"Host": "127.0.0.1:9000"}),  # with the peer named a trusted proxy (below)
])
def test_a_proxy_on_this_host_never_opens_the_inspector_without_a_token(
        make_client: Callable[..., FlaskClient], peer: str, headers: dict[str, str]) -> None:
    """Found in review: a local proxy's connection comes from loopback, and it sets Host to its upstream."""
    c = make_client(trusted_proxies=("127.0.0.1/32",) if headers.get("Host") else ())
    response = c.get("/api/v1/callbacks", environ_base={"REMOTE_ADDR": peer},
                     headers={"Host": "127.0.0.1:9000", **headers})
    assert response.status_code == 403, response.json
    page = c.get("/", environ_base={"REMOTE_ADDR": peer}, headers={"Host": "localhost", **headers})
    assert page.status_code == 403 and "text/html" in page.content_type


def test_a_callback_token_header_never_opens_the_inspector(make_client: Callable[..., FlaskClient]) -> None:
    """Volcengine's ``Token:`` header carries a callback token; the inspector reads Authorization only."""
    c = make_client(admin_tokens=(ADMIN,))
    assert c.get("/api/v1/status", headers={"Token": ADMIN}).status_code == 401
    assert c.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_x_forwarded_for_never_makes_a_client_loopback(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(trusted_proxies=("10.0.0.0/8",))
    response = c.get("/api/v1/callbacks", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                     headers={"X-Forwarded-For": "127.0.0.1"})
    assert response.status_code == 403


def test_with_an_admin_token_only_it_opens_the_inspector(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(admin_tokens=(ADMIN,), tokens=(CALLBACK,))
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    missing = c.get("/api/v1/status", environ_base=remote)
    assert missing.status_code == 401 and "admin token" in missing.json["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    assert c.get("/api/v1/status").status_code == 401  # loopback too, once a token is configured
    assert c.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN}"}, environ_base=remote).status_code == 200
    basic = base64.b64encode(f"admin:{ADMIN}".encode()).decode()
    assert c.get("/api/v1/status", headers={"Authorization": f"Basic {basic}"}, environ_base=remote).status_code == 200
    assert c.get("/api/v1/status", headers={"Authorization": f"Bearer {CALLBACK}"}).status_code == 401
    assert c.get(f"/api/v1/status?token={ADMIN}").status_code == 401  # never from the query: history, logs


def test_every_answer_carries_the_strict_content_security_policy(client: FlaskClient) -> None:
    for response in (client.get("/api/v1/status"),
                     client.get("/api/v1/status", environ_base={"REMOTE_ADDR": "10.9.9.9"}),
                     client.post("/callbacks/kingsoft", data=KINGSOFT, content_type="application/json")):
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_the_admin_token_comes_from_a_flag_the_environment_or_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "admin-token"
    secret_file.write_text("# rotated on Monday\nfile-admin-1\n")
    settings = load_settings(None, {"BRIDGE_ADMIN_TOKEN": "env-admin-1",
                                       "BRIDGE_ADMIN_TOKEN_FILE": str(secret_file),
                                       "BRIDGE_JOURNAL_MAX_CALLBACKS": "50", "BRIDGE_JOURNAL_MAX_BYTES": "1000000"})
    assert settings.admin_tokens == ("env-admin-1", "file-admin-1")
    assert (settings.journal_max_callbacks, settings.journal_max_bytes) == (50, 1_000_000)
    assert "env-admin-1" not in repr(settings)
    with pytest.raises(Exception, match="BRIDGE_ADMIN_TOKEN: given but empty"):
        load_settings(None, {"BRIDGE_ADMIN_TOKEN": ""})
    assert Settings().admin_tokens == ()


def test_redacting_a_hostile_body_takes_linear_time() -> None:
    """A long run of letters once cost the URL-credentials pattern quadratic time: 12 s for 33 KiB, on the
    worker answering the callback. Generous bound: it must not be seconds."""
    started = time.monotonic()
    for body in (b"a" * (1 << 20), b"a://" * (1 << 18), b"&tokentoken" * (1 << 16), b'"token' * (1 << 17),
                 b"\\u0026token=" * (1 << 15), b"&token=" + b"\\/" * (1 << 16)):
        capped_body(body)
    assert time.monotonic() - started < 2


def test_refused_callbacks_never_wait_for_the_store_and_a_flood_beyond_the_queue_is_not_recorded() -> None:
    """The refusal is answered at once even while the store hangs; what does not fit the queue is counted."""
    release, written = threading.Event(), []

    class HangingStore:
        def record_callbacks(self, records: list) -> None:
            release.wait(10)
            written.extend(records)

    writer = RefusedWriter(HangingStore)  # type: ignore[arg-type]
    record = CallbackRecord(received_at=1.0, vendor="tencent", source="10.0.0.1", outcome="unauthorized", status=401)
    started = time.monotonic()
    for _ in range(RefusedWriter.QUEUE * 2):
        writer.add(record)
    assert time.monotonic() - started < 1  # never blocked on the hanging store
    assert RefusedWriter.QUEUE - RefusedWriter.BATCH <= writer.dropped <= RefusedWriter.QUEUE
    release.set()
    wait_for(lambda: len(written) == RefusedWriter.QUEUE * 2 - writer.dropped, message="the queue written")


def test_status_shows_the_rules_generation_and_when_they_were_last_reloaded(tmp_path: Path,
                                                                           store: SqliteStore) -> None:
    from bridge.reload import SharedReload
    from bridge.web.app import create_app
    config = tmp_path / "bridge.yml"
    config.write_text("external_labels: {env: a}\n")
    c = create_app(load_settings(None, {"BRIDGE_CONFIG": str(config)}), store=store).test_client()
    assert c.get("/api/v1/status").json["rules"] == {"generation": 0, "last_reload_at": None,
                                                     "config_file": str(config)}
    config.write_text("external_labels: {env: b}\n")
    before = time.time()
    assert c.post("/-/reload").status_code == 200
    rules = c.get("/api/v1/status").json["rules"]
    assert rules["generation"] == 1 and rules["last_reload_at"] >= before
    shared = SharedReload()  # under gunicorn: the master's accepted reloads, seen by every worker
    try:
        assert shared.accepted_at() is None
        shared.accept("external_labels: {env: c}\n")
        shared.refuse()
        assert shared.generation() == 1 and shared.accepted_at() >= before
    finally:
        shared.remove()


def test_trying_a_signed_vendors_message_says_its_signature_was_not_checked(client: FlaskClient) -> None:
    """As translate says on stderr: a pasted SNS message shows its alerts, but nobody checked who signed it."""
    body = fixture_bytes("aws", "lambda-go-single-metric-alarm.json").decode()
    answer = client.post("/api/v1/try", json={"vendor": "aws", "body": body}).json
    assert answer["ok"] is True and answer["signature_checked"] is False and answer["alerts"]
    page = client.post("/try", data={"vendor": "aws", "body": body, "content_type": ""}).text
    assert "signature of this aws message is not checked here" in page
    unsigned = client.post("/api/v1/try", json={"vendor": "kingsoft", "body": KINGSOFT.decode()}).json
    assert "signature_checked" not in unsigned
