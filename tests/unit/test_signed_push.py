"""Signed pushes (bridge.verify) at POST /callbacks/aws: what a forger who knows the URL can and cannot do.

The certificate and the subscribe URLs are served by a real local HTTPS server under a test CA
(tests/harness/signing.py); the bridge trusts it through ``signing_hosts``/``signing_ca_files`` exactly as
``--signing-host``/``--signing-ca-file`` do. Each test serves its paths under a name of its own, so the
server's request log says what that test made the bridge fetch.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from bridge.config_file import ConfigError
from bridge.options import add_arguments
from bridge.rules.loading import load_settings
from bridge.settings import from_json, to_json
from bridge.store.sqlite import SqliteStore
from bridge.verify.sns import string_to_sign
from tests.harness import sns
from tests.harness.processes import wait_for
from tests.harness.signing import SigningServer

ALARM = {"AlarmName": "cpu-high", "AWSAccountId": "123456789012", "NewStateValue": "ALARM",
         "NewStateReason": "Threshold Crossed", "StateChangeTime": "2026-12-04T03:00:00.000+0000",
         "Region": "EU (Ireland)", "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu-high",
         "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
                     "Dimensions": [{"value": "i-0abc", "name": "InstanceId"}]}}


@pytest.fixture
def served(signing_server: SigningServer) -> Callable[[str], str]:
    """``served(name)``: a URL path unique to this test and ``name``; fetches of it are this test's own."""
    prefix = f"/{uuid.uuid4().hex[:12]}"
    return lambda name: f"{prefix}/{name}"


@pytest.fixture
def client(make_client: Callable[..., FlaskClient], signing_server: SigningServer) -> FlaskClient:
    return make_client(signing_hosts={"aws": ("127.0.0.1",)},
                       signing_ca_files={"aws": (str(signing_server.ca.ca_path),)})


def notification(signing_server: SigningServer, cert_path: str, message: dict[str, Any] | str = ALARM,
                 version: str = "1", **fields: Any) -> dict[str, Any]:
    cert_url = signing_server.serve_certificate(cert_path)
    text = message if isinstance(message, str) else json.dumps(message)
    return sns.sign(sns.envelope(text, cert_url=cert_url, **fields), signing_server.ca, version)


def post(client: FlaskClient, body: dict[str, Any] | bytes) -> Any:
    data = body if isinstance(body, bytes) else sns.encoded(body)
    return client.post("/callbacks/aws", data=data, headers=sns.HEADERS)


def stored(store: SqliteStore) -> list[dict[str, str]]:
    return [row.alert.labels for row in store.active("", 100, time.time(), 10**9)]


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_alarm_becomes_an_alert_with_either_signature_version(
        version: str, client: FlaskClient, store: SqliteStore, signing_server: SigningServer, served) -> None:
    response = post(client, notification(signing_server, served("cert.pem"), version=version))
    assert response.status_code == 200, response.text
    assert [labels["alertname"] for labels in stored(store)] == ["cpu-high"]


SIGNED = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")


@pytest.mark.parametrize("field", SIGNED)
def test_any_byte_of_a_signed_field_changed_is_refused_and_nothing_is_stored(
        field: str, client: FlaskClient, store: SqliteStore, signing_server: SigningServer, served,
        caplog: pytest.LogCaptureFixture) -> None:
    body = notification(signing_server, served("cert.pem"), subject="ALARM: cpu-high")
    changed = dict(body)
    value = changed[field]
    changed[field] = value.replace("ALARM", "OK") if "ALARM" in value else value[:-1] + chr(ord(value[-1]) ^ 1)
    with caplog.at_level(logging.INFO):
        response = post(client, changed)
    assert response.status_code == 403, response.text
    assert stored(store) == []
    assert "Threshold Crossed" not in caplog.text, "a refused body is never logged"


def test_a_field_outside_the_signature_may_change(client: FlaskClient, store: SqliteStore,
                                                  signing_server: SigningServer, served) -> None:
    body = notification(signing_server, served("cert.pem"))
    body["UnsubscribeURL"] = "https://example.com/"
    assert post(client, body).status_code == 200


def test_a_signature_by_another_key_is_refused(client: FlaskClient, store: SqliteStore,
                                               signing_server: SigningServer, served) -> None:
    body = notification(signing_server, served("cert.pem"))
    forged = base64.b64decode(body["Signature"])
    body["Signature"] = base64.b64encode(bytes([forged[0] ^ 1]) + forged[1:]).decode()
    response = post(client, body)
    assert response.status_code == 403 and "signature" in response.json["error"]
    assert stored(store) == []


@pytest.mark.parametrize("url", [
    "https://sns.eu-west-1.amazonaws.com.evil.example/{path}",
    "https://evil.example/{path}",
    "https://sns.eu-west-1.amazonaws.com@127.0.0.1:{port}/{path}",
    "http://127.0.0.1:{port}/{path}",
    "ftp://127.0.0.1:{port}/{path}",
    "",
], ids=["suffix", "other-host", "userinfo", "http", "ftp", "missing"])
def test_a_certificate_url_off_the_service_hosts_is_refused_without_fetching_it(
        url: str, client: FlaskClient, store: SqliteStore, signing_server: SigningServer, served) -> None:
    path = served("cert.pem")
    body = notification(signing_server, path)
    body["SigningCertURL"] = url.format(port=signing_server.port, path=path.lstrip("/"))
    body = sns.sign(body, signing_server.ca)
    response = post(client, body)
    assert response.status_code == 403, response.text
    assert signing_server.fetched(path) == 0
    assert stored(store) == []


def test_the_real_sns_hosts_are_the_only_default_ones() -> None:
    from bridge.verify.certificates import HostRule
    from bridge.verify.sns import SCHEME

    hosts = HostRule(SCHEME.default_hosts)
    assert hosts.matches("sns.us-east-1.amazonaws.com") and hosts.matches("sns.cn-north-1.amazonaws.com.cn")
    assert hosts.matches("SNS.EU-WEST-1.AMAZONAWS.COM.") and hosts.matches("sns.us-gov-west-1.amazonaws.com")
    assert hosts.matches("sns.cn-northwest-1.amazonaws.com.cn") and hosts.matches("sns.ap-southeast-7.amazonaws.com")
    for host in ("sns.amazonaws.com.evil.example", "evil-sns.us-east-1.amazonaws.com", "127.0.0.1",
                 "sns.us-east-1.amazonaws.com.cn.evil", "s3.us-east-1.amazonaws.com", "sns..amazonaws.com",
                 # S3 buckets named "sns" on the dash-region and legacy endpoints: anyone may own one
                 "sns.s3-us-west-2.amazonaws.com", "sns.s3-external-1.amazonaws.com", "sns.s3.amazonaws.com",
                 "sns.s3-website-us-east-1.amazonaws.com", "sns.s3.us-east-1.amazonaws.com"):
        assert not hosts.matches(host), host


def test_a_redirect_from_the_certificate_url_is_not_followed(client: FlaskClient, store: SqliteStore,
                                                            signing_server: SigningServer, served) -> None:
    target = served("elsewhere.pem")
    signing_server.serve_certificate(target)
    redirect = signing_server.serve(served("moved.pem"), b"", 302,
                                    {"Location": f"https://evil.example{target}"})
    body = sns.sign(sns.envelope(json.dumps(ALARM), cert_url=redirect), signing_server.ca)
    response = post(client, body)
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert signing_server.fetched(target) == 0
    assert stored(store) == []


def test_the_certificate_is_fetched_once_and_then_cached(client: FlaskClient, signing_server: SigningServer,
                                                         served) -> None:
    path = served("cert.pem")
    for name in ("a", "b", "c"):
        assert post(client, notification(signing_server, path, {**ALARM, "AlarmName": name})).status_code == 200
    assert signing_server.fetched(path) == 1


def test_a_topic_outside_the_allowlist_is_refused_without_fetching(
        make_client: Callable[..., FlaskClient], store: SqliteStore, signing_server: SigningServer, served) -> None:
    client = make_client(signing_hosts={"aws": ("127.0.0.1",)},
                         signing_ca_files={"aws": (str(signing_server.ca.ca_path),)},
                         allow_topics={"aws": ("arn:aws:sns:*:123456789012:alarms-*",)})
    path = served("cert.pem")
    other = notification(signing_server, path, topic="arn:aws:sns:eu-west-1:999999999999:alarms-prod")
    response = post(client, other)
    assert response.status_code == 403 and "topic" in response.json["error"]
    assert signing_server.fetched(path) == 0 and stored(store) == []
    allowed = notification(signing_server, path, topic="arn:aws:sns:eu-west-1:123456789012:alarms-prod")
    assert post(client, allowed).status_code == 200


def confirmation(signing_server: SigningServer, cert_path: str, subscribe_path: str,
                 kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    cert_url = signing_server.serve_certificate(cert_path)
    subscribe_url = signing_server.serve(subscribe_path, b"<ConfirmSubscriptionResponse/>") + "?Action=Confirm"
    body = sns.envelope("You have chosen to subscribe to the topic.", kind=kind, cert_url=cert_url,
                        subscribe_url=subscribe_url)
    return sns.sign(body, signing_server.ca)


def test_a_subscription_is_confirmed_exactly_once(client: FlaskClient, store: SqliteStore,
                                                 signing_server: SigningServer, served,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    subscribe = served("confirm")
    body = confirmation(signing_server, served("cert.pem"), subscribe)
    with caplog.at_level(logging.INFO):
        for _ in range(3):  # SNS retries when it gets no 2xx in time: the same message again
            response = post(client, body)
            assert response.status_code == 200, response.text
    assert signing_server.fetched(subscribe) == 1
    assert response.json == {"subscription_confirmation": sns.TOPIC}
    assert [r.topic for r in caplog.records if r.message.startswith("confirmed the subscription")] == [sns.TOPIC]
    assert stored(store) == []


def test_a_subscribe_url_off_the_service_hosts_is_never_fetched(client: FlaskClient,
                                                              signing_server: SigningServer, served) -> None:
    cert_url = signing_server.serve_certificate(served("cert.pem"))
    subscribe = served("confirm")
    signing_server.serve(subscribe, b"ok")
    body = sns.envelope("subscribe", kind="SubscriptionConfirmation", cert_url=cert_url,
                        subscribe_url=f"http://127.0.0.1:{signing_server.port}{subscribe}")
    assert post(client, sns.sign(body, signing_server.ca)).status_code == 403
    assert signing_server.fetched(subscribe) == 0


def test_an_unsubscribe_confirmation_is_verified_and_logged_never_followed(
        client: FlaskClient, signing_server: SigningServer, served, caplog: pytest.LogCaptureFixture) -> None:
    subscribe = served("resubscribe")
    body = confirmation(signing_server, served("cert.pem"), subscribe, kind="UnsubscribeConfirmation")
    with caplog.at_level(logging.INFO):
        assert post(client, body).status_code == 200
    assert signing_server.fetched(subscribe) == 0
    assert "unsubscribed" in caplog.text
    forged = {**body, "Message": body["Message"] + "!"}
    assert post(client, forged).status_code == 403


def test_a_repeated_message_changes_nothing(client: FlaskClient, store: SqliteStore, signing_server: SigningServer,
                                           served) -> None:
    body = notification(signing_server, served("cert.pem"))
    assert post(client, body).status_code == 200
    before = store.active("", 100, time.time(), 10**9)
    for _ in range(2):
        assert post(client, body).status_code == 200
    after = store.active("", 100, time.time(), 10**9)
    assert [(row.seq, row.alert.labels) for row in after] == [(row.seq, row.alert.labels) for row in before]


def test_a_notification_that_is_no_alarm_is_answered_ignored_and_stores_nothing(
        client: FlaskClient, store: SqliteStore, signing_server: SigningServer, served,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        response = post(client, notification(signing_server, served("cert.pem"), "Hello world!"))
    assert response.status_code == 200 and "not a CloudWatch alarm" in response.json["ignored"]
    assert "ignored a callback" in caplog.text
    assert stored(store) == []


def test_the_string_to_sign_is_the_documented_fields_in_the_documented_order() -> None:
    notification_ = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Subject": "s", "Message": "x\ny",
                     "Timestamp": "ts", "SignatureVersion": "1", "UnsubscribeURL": "u"}
    assert string_to_sign(notification_) == (b"Message\nx\ny\nMessageId\nm\nSubject\ns\nTimestamp\nts\n"
                                             b"TopicArn\nt\nType\nNotification\n")
    del notification_["Subject"]
    assert string_to_sign(notification_) == (b"Message\nx\ny\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\n"
                                             b"Type\nNotification\n")
    subscribe = {"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "k", "TopicArn": "t", "Message": "x",
                 "SubscribeURL": "https://s", "Timestamp": "ts"}
    assert string_to_sign(subscribe) == (b"Message\nx\nMessageId\nm\nSubscribeURL\nhttps://s\nTimestamp\nts\nToken\nk\n"
                                         b"TopicArn\nt\nType\nSubscriptionConfirmation\n")


def test_the_signed_push_options_come_from_flags_environment_and_file_and_survive_the_trip_to_gunicorn(
        tmp_path, signing_server: SigningServer) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = parser.parse_args(["--allow-topic", "aws=arn:aws:sns:*:123456789012:a",
                               "--allow-topic", "aws=arn:aws:sns:*:123456789012:b"])
    assert load_settings(flags, {}).allow_topics == {"aws": ("arn:aws:sns:*:123456789012:a",
                                                            "arn:aws:sns:*:123456789012:b")}
    env = {"BRIDGE_SIGNING_HOSTS": "aws=127.0.0.1,aws=*.example.test",
           "BRIDGE_SIGNING_CA_FILES": f"aws={signing_server.ca.ca_path}"}
    settings = load_settings(parser.parse_args([]), env)
    assert settings.signing_hosts == {"aws": ("127.0.0.1", "*.example.test")}
    assert from_json(to_json(settings)) == settings
    config = tmp_path / "bridge.yml"
    config.write_text("allow_topics: {aws: ['arn:aws:sns:eu-west-1:123456789012:alarms']}\n")
    assert load_settings(parser.parse_args([]), {"BRIDGE_CONFIG": str(config)}).allow_topics == {
        "aws": ("arn:aws:sns:eu-west-1:123456789012:alarms",)}


@pytest.mark.parametrize("env", [{"BRIDGE_ALLOW_TOPICS": "tencent=arn:aws:sns:*:1:*"},
                                 {"BRIDGE_SIGNING_CA_FILES": "aws=/nonexistent/ca.pem"},
                                 {"BRIDGE_SIGNING_HOSTS": "aws"}])
def test_a_signed_push_option_for_an_unsigned_vendor_or_a_missing_file_is_refused_at_start(
        env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        load_settings(argparse.ArgumentParser().parse_args([]), env)


def test_a_failing_certificate_url_is_answered_503_and_fetched_once_however_many_messages_name_it(
        client: FlaskClient, store: SqliteStore, signing_server: SigningServer, served) -> None:
    path = served("missing.pem")
    signing_server.serve(path, b"gone", 404)
    body = sns.sign(sns.envelope(json.dumps(ALARM), cert_url=signing_server.base + path), signing_server.ca)
    for _ in range(3):
        response = post(client, body)
        assert response.status_code == 503 and response.headers["Retry-After"] == "5", response.text
    assert signing_server.fetched(path) == 1
    assert stored(store) == []


def test_an_alarm_sent_with_raw_message_delivery_is_a_400_that_says_to_turn_it_off(client: FlaskClient) -> None:
    response = post(client, json.dumps(ALARM).encode())
    assert response.status_code == 400 and "raw message delivery" in response.json["error"]


def test_a_third_certificate_fetch_at_once_is_answered_503_at_once_not_queued(
        client: FlaskClient, signing_server: SigningServer, served) -> None:
    """Fetches hold request threads: two may run per process; a message needing a third does not wait."""
    slow = [signing_server.serve(served(f"slow-{i}.pem"), b"not a certificate", delay=1.5) for i in range(2)]
    busy = [threading.Thread(target=post, args=(client.application.test_client(),
                                                sns.sign(sns.envelope("x", cert_url=url), signing_server.ca)))
            for url in slow]
    for thread in busy:
        thread.start()
    wait_for(lambda: sum(signing_server.fetched(urlsplit(url).path) for url in slow) == 2, 5,
             message="two slow fetches under way")
    third = served("third.pem")
    response = post(client, notification(signing_server, third))
    assert response.status_code == 503 and "too many fetches" in response.json["error"]
    assert signing_server.fetched(third) == 0, "it did not wait for a slot: it was refused"
    for thread in busy:
        thread.join()
    # nothing was learnt about the third URL: once a slot is free, its next message fetches it (a real
    # failure is remembered for FAILURE_TTL; a busy refusal must not be, or a good certificate is refused)
    assert post(client, notification(signing_server, third)).status_code == 200
    assert signing_server.fetched(third) == 1
