"""The HTTP contract, through Flask's test client on a real SQLite store."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge.settings import Settings
from bridge.store import StoreError
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app
from tests.harness.fixtures import fixture_bytes


def test_tencent_gets_its_session_id_back_after_the_commit(client: FlaskClient, store: SqliteStore) -> None:
    response = client.post("/callbacks/tencent", data=fixture_bytes("tencent", "metric-firing.json"),
                           content_type="application/json")
    assert response.status_code == 200
    assert response.json == {"sessionId": "xxxxxxxx", "retCode": 0}
    store.register_targets(["am"])
    assert store.stats(["am"], 0).total == 1


def test_aliyun_form_and_kingsoft_json_are_accepted(client: FlaskClient, store: SqliteStore) -> None:
    assert client.post("/callbacks/aliyun", data=fixture_bytes("aliyun", "threshold-alert.form"),
                       content_type="application/x-www-form-urlencoded; charset=UTF-8").status_code == 200
    assert client.post("/callbacks/kingsoft", data=fixture_bytes("kingsoft", "alarm.json"),
                       content_type="application/json").status_code == 200
    assert store.stats([], 0).total == 2


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_url_checks_are_answered_at_once_and_record_nothing(
        client: FlaskClient, store: SqliteStore, method: str) -> None:
    response = client.open("/callbacks/tencent?sessionId=check", method=method)
    assert response.status_code == 200
    if method != "HEAD":
        assert response.json == {"sessionId": "check", "retCode": 0}
    assert store.stats([], 0).total == 0


def test_an_invalid_payload_is_a_400_naming_the_field_and_stores_nothing(
        client: FlaskClient, store: SqliteStore) -> None:
    response = client.post("/callbacks/kingsoft", data=b'{"alarmState": 1}', content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "alarmPolicyInfo: missing"}
    assert store.stats([], 0).total == 0


def test_unsupported_content_type_is_415(client: FlaskClient) -> None:
    response = client.post("/callbacks/aliyun", data=b"<x/>", content_type="application/xml")
    assert response.status_code == 415
    assert "error" in response.json


def test_a_body_over_the_limit_is_413(make_client: Callable[..., FlaskClient]) -> None:
    response = make_client(max_body_bytes=100).post("/callbacks/tencent", data=b"{" + b" " * 200 + b"}",
                                                    content_type="application/json")
    assert response.status_code == 413
    assert "error" in response.json


@pytest.mark.parametrize("how", ["query", "bearer", "basic"])
def test_a_configured_token_is_accepted_in_every_documented_place(
        make_client: Callable[..., FlaskClient], how: str) -> None:
    c = make_client(tokens=("old", "new"))
    url, headers = "/callbacks/kingsoft", {}
    if how == "query":
        url += "?token=new"
    elif how == "bearer":
        headers["Authorization"] = "Bearer new"
    else:
        headers["Authorization"] = "Basic " + base64.b64encode(b"tencent:new").decode()
    response = c.post(url, data=fixture_bytes("kingsoft", "alarm.json"), content_type="application/json",
                      headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic !!"}])
def test_a_missing_or_wrong_token_is_401_and_stores_nothing(
        make_client: Callable[..., FlaskClient], store: SqliteStore, headers: dict) -> None:
    response = make_client(tokens=("right",)).post(
        "/callbacks/kingsoft", data=fixture_bytes("kingsoft", "alarm.json"), content_type="application/json",
        headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "missing or wrong token"}
    assert store.stats([], 0).total == 0


def test_unknown_paths_and_methods_get_json_errors(client: FlaskClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and "error" in missing.json
    unknown = client.get("/callbacks/azure")
    assert unknown.status_code == 404 and "tencent" in unknown.json["error"]
    response = client.delete("/callbacks/tencent")
    assert response.status_code == 405 and "error" in response.json


def test_a_full_store_answers_503_so_the_vendor_retries(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bridge.db", max_alerts=1)
    c = create_app(Settings(), store=store).test_client()
    assert c.post("/callbacks/kingsoft", data=fixture_bytes("kingsoft", "alarm.json"),
                  content_type="application/json").status_code == 200
    response = c.post("/callbacks/kingsoft", data=fixture_bytes("kingsoft", "two-conditions.json"),
                      content_type="application/json")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert store.stats([], 0).total == 1  # the refused callback left nothing behind


def test_health_readiness_and_metrics(client: FlaskClient) -> None:
    assert client.get("/-/healthy").status_code == 200
    assert client.get("/-/ready").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert 'cloud_alarm_bridge_build_info{version="0.1.0"} 1.0' in text
    assert "cloud_alarm_bridge_callbacks_total" in text


def test_not_ready_names_no_internal_address(store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """/-/ready is reachable by whoever reaches the port: the cause (hosts, paths) goes to the log only."""
    c = create_app(Settings(), store=store).test_client()

    def refused() -> None:
        raise StoreError("Error 111 connecting to redis-0.redis.internal:6379 (10.1.2.3)")

    monkeypatch.setattr(store, "ping", refused)
    response = c.get("/-/ready")
    assert response.status_code == 503
    assert response.get_data(as_text=True) == "not ready: the store is unavailable\n"
    assert "10.1.2.3" in caplog.records[-1].error


def test_a_reload_from_outside_the_allowed_networks_is_refused(tmp_path: Path, store: SqliteStore) -> None:
    """--allow-cidr guards the endpoint that changes the bridge too (vendor lists do not: they name vendors)."""
    c = create_app(Settings(allow_cidrs=("192.0.2.0/24",), vendor_allow_cidrs={"tencent": ("203.0.113.0/24",)}),
                   store=store).test_client()
    outside = c.post("/-/reload", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert outside.status_code == 403 and outside.json == {"error": "source address not allowed"}
    inside = c.post("/-/reload", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert inside.status_code == 400 and "nothing to reload" in inside.get_data(as_text=True)  # past the check


def test_a_refused_reload_behind_a_trusted_proxy_logs_the_client_checked_not_the_proxy(
        store: SqliteStore, caplog: pytest.LogCaptureFixture) -> None:
    """The operator must see who tried to reload (issue 20 item 7), not the ingress every request comes from."""
    c = create_app(Settings(allow_cidrs=("192.0.2.0/24",), trusted_proxies=("10.0.0.0/8",)), store=store).test_client()
    with caplog.at_level(logging.INFO, logger="bridge.web"):
        refused = c.post("/-/reload", headers={"X-Forwarded-For": "203.0.113.7"},
                         environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert refused.status_code == 403
    [record] = [r for r in caplog.records if r.getMessage() == "refused a reload from outside the allowed networks"]
    assert record.__dict__["remote"] == "203.0.113.7"
    assert record.__dict__["peer"] == "10.1.2.3"


def test_413_and_404_name_the_limit_and_the_endpoints(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(max_body_bytes=100)
    too_large = c.post("/callbacks/tencent", data=b"{" + b" " * 200 + b"}", content_type="application/json")
    assert too_large.json == {"error": "the body is larger than 100 bytes (--max-body-bytes)"}
    missing = c.post("/callback/tencent").json["error"]
    assert "/callbacks/<vendor>" in missing and "aliyun, gcp, kingsoft, tencent, volcengine" in missing


def test_an_undecodable_basic_credential_is_a_401(make_client: Callable[..., FlaskClient]) -> None:
    response = make_client(tokens=("t",)).post("/callbacks/kingsoft", data=b"{}", content_type="application/json",
                                               headers={"Authorization": "Basic \u00c3\u00a9"})
    assert response.status_code == 401
