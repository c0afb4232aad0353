"""AWS CloudWatch alarms through SNS, end to end: the real ``serve`` checks each signature against a certificate it
fetches over HTTPS, confirms subscriptions, and a real Alertmanager gets what the alarms say.

The certificate and subscribe URLs are served by the session's local HTTPS server under a test CA
(tests/harness/signing.py), trusted with ``--signing-host``/``--signing-ca-file``. Real captured ``Message``
bodies (tests/fixtures/aws/SOURCES.md) are kept as they are and only re-signed. One bridge (one worker, so
that "confirmed once" is exact: the memory of confirmations is per process) and one Alertmanager serve the
module; every test uses alarms of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import sns
from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes
from tests.harness.fuzzing import PROFILE
from tests.harness.hostile import hostile_callbacks
from tests.harness.signing import SigningServer

pytestmark = pytest.mark.e2e
TOKEN = "aws-e2e-token"
ALLOWED = "arn:aws:sns:*:123456789012:*"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, signing_server: SigningServer) -> Iterator[tuple[Alertmanager,
                                                                                                     Bridge]]:
    workdir = tmp_path_factory.mktemp("aws-e2e")
    (workdir / "am").mkdir()
    am = Alertmanager(workdir / "am").start()
    bridge = Bridge(workdir, [am.url], f"--token={TOKEN}", "--workers=1", f"--allow-topic=aws={ALLOWED}",
                    *signing_server.bridge_args("aws")).start()
    yield am, bridge
    bridge.stop()
    am.stop()


@pytest.fixture
def cert_url(signing_server: SigningServer) -> str:
    return signing_server.serve_certificate(f"/{uuid.uuid4().hex[:8]}/SimpleNotificationService.pem")


def post(bridge: Bridge, body: bytes) -> requests.Response:
    headers = {**sns.headers_for(json.loads(body)), "Content-Type": "text/plain; charset=UTF-8"}
    return requests.post(f"{bridge.url}/callbacks/aws", params={"token": TOKEN}, data=body, headers=headers,
                         timeout=10)


def sample(name: str, signing_server: SigningServer, cert_url: str, version: str = "", **message: Any) -> bytes:
    """A stored sample signed anew; ``message`` changes fields of its alarm (and the result is re-signed)."""
    body = json.loads(fixture_bytes("aws", name))
    if message:
        body["Message"] = json.dumps({**json.loads(body["Message"]), **message})
    return sns.resign(json.dumps(body).encode(), signing_server.ca, cert_url, version)


def one_firing(am: Alertmanager, **labels: str) -> dict:
    return am.wait_for(lambda alerts: alerts if len(alerts) == 1 and active(alerts) else None,
                       message=f"one firing alert {labels}", **labels)[0]


REAL = {  # each real sample and the labels a user routes and silences on
    "alerta-s3-bucket-size-alarm.json": {
        "alertname": "bucketbytesAlarm", "cloud_namespace": "AWS/S3", "region": "eu-west-1",
        "BucketName": "try.alerta.io", "StorageType": "StandardStorage", "account_id": "123456789012"},
    "alerta-sns-insufficient-data.json": {
        "alertname": "notificationCountAlarm", "alarm_state": "insufficient_data", "region": "eu-west-1",
        "TopicName": "alerta-test"},
    "waf-blocked-requests-alarm.json": {
        "cloud_namespace": "AWS/WAFV2", "region": "eu-west-1", "WebACL": "project-general-alb-project",
        "Region": "eu-west-1", "Rule": "alb-project-wafbase-rate-limit-rule"},
    "lambda-go-metric-math-alarm.json": {"alertname": "EXAMPLE", "cloud_namespace": "AWS/EC2",
                                         "InstanceId": "TestInstance"},
    "rheoceros-composite-alarm.json": {
        "alertname": "if-sim-app_123456789012_us-east-1-test_node_monitor", "region": "us-east-1",
        "policy_id": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
                     "if-sim-app_123456789012_us-east-1-test_node_monitor"},
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_a_real_sample_becomes_the_alert_a_user_expects(name: str, stack: tuple[Alertmanager, Bridge],
                                                        signing_server: SigningServer, cert_url: str) -> None:
    am, bridge = stack
    response = post(bridge, sample(name, signing_server, cert_url))
    assert response.status_code == 200, response.text
    alert = one_firing(am, vendor="aws", **REAL[name])
    assert alert["labels"]["severity"] == "warning"
    assert alert["generatorURL"].startswith("https://console.aws.amazon.com/cloudwatch/")


def test_ok_resolves_what_alarm_raised_and_a_repeat_changes_nothing(stack: tuple[Alertmanager, Bridge],
                                                                   signing_server: SigningServer,
                                                                   cert_url: str) -> None:
    am, bridge = stack
    name = "lambda-errors-ok.json"
    firing = sample(name, signing_server, cert_url, NewStateValue="ALARM",
                    StateChangeTime="2024-03-19T17:09:14.422+0000")
    for _ in range(2):  # SNS retries a message it got no 2xx for: same MessageId, same body
        assert post(bridge, firing).status_code == 200
    one_firing(am, FunctionName="package-general-live-event-filter-function")
    assert post(bridge, sample(name, signing_server, cert_url, version="2")).status_code == 200
    am.wait_for(lambda alerts: not alerts, message="the OK resolved it",
                FunctionName="package-general-live-event-filter-function")
    assert post(bridge, firing).status_code == 200  # a late retry of the ALARM does not resurrect it
    assert not am.alerts(FunctionName="package-general-live-event-filter-function")


def test_a_forged_alarm_is_refused_logged_without_its_body_and_never_reaches_alertmanager(
        stack: tuple[Alertmanager, Bridge], signing_server: SigningServer, cert_url: str) -> None:
    am, bridge = stack
    body = json.loads(sample("rheoceros-metric-alarm.json", signing_server, cert_url))
    body["Message"] = body["Message"].replace("metric_emitting_node", "forged_node")
    response = post(bridge, json.dumps(body).encode())
    assert response.status_code == 403, response.text
    assert "forged_node" not in bridge.log_text()
    elsewhere = json.loads(sample("rheoceros-metric-alarm.json", signing_server, cert_url))
    elsewhere["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:attacker"
    assert post(bridge, sns.encoded(sns.sign(elsewhere, signing_server.ca))).status_code == 403
    assert not am.alerts(RouteID="forged_node") and not am.alerts(RouteID="metric_emitting_node")


def test_serve_confirms_a_subscription_once_and_never_follows_an_unsubscribe(
        stack: tuple[Alertmanager, Bridge], signing_server: SigningServer, cert_url: str) -> None:
    _, bridge = stack
    path = f"/{uuid.uuid4().hex[:8]}/confirm"
    stored = json.loads(fixture_bytes("aws", "handshakes/alerta-subscription-confirmation.json"))
    stored["SubscribeURL"] = signing_server.serve(path, b"<ConfirmSubscriptionResponse/>") + "?Action=Confirm"
    body = sns.resign(json.dumps(stored).encode(), signing_server.ca, cert_url)
    for _ in range(2):
        response = post(bridge, body)
        assert response.status_code == 200, response.text
    assert signing_server.fetched(path) == 1
    assert "confirmed the subscription" in bridge.log_text() and stored["TopicArn"] in bridge.log_text()

    unsubscribe = json.loads(fixture_bytes("aws", "handshakes/docs-unsubscribe-confirmation.json"))
    unsubscribe.update(TopicArn=stored["TopicArn"], SubscribeURL=signing_server.base + path + "?again")
    assert post(bridge, sns.resign(json.dumps(unsubscribe).encode(), signing_server.ca, cert_url)).status_code == 200
    assert signing_server.fetched(path) == 1


def test_hostile_sns_messages_get_a_4xx_or_a_2xx_never_a_5xx(stack: tuple[Alertmanager, Bridge],
                                                           signing_server: SigningServer, cert_url: str) -> None:
    """Hostile values in every field of real samples, inside the alarm too; most are signed validly, so they
    reach the parser and the mapping in serve."""
    _, bridge = stack
    session = requests.Session()
    statuses: dict[int, int] = {}

    @settings(max_examples={"long": 1000}.get(PROFILE, 120), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(callback=hostile_callbacks("aws", "application/json"), allowed_topic=st.booleans())
    def one(callback: tuple[bytes, str], allowed_topic: bool) -> None:
        body = callback[0]
        try:
            envelope = json.loads(body)
            envelope["SigningCertURL"] = cert_url
            if allowed_topic:  # else mostly refused for its topic, before the parser
                envelope["TopicArn"] = sns.TOPIC
            body = sns.encoded(sns.sign(envelope, signing_server.ca, str(envelope.get("SignatureVersion"))[:1]
                                        if envelope.get("SignatureVersion") in ("1", "2") else "1"))
        except Exception:  # a field signing cannot take (not a string): sent as it is, refused unsigned
            pass
        response = session.post(f"{bridge.url}/callbacks/aws", params={"token": TOKEN}, data=body,
                                headers=sns.HEADERS, timeout=10)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:300])
        if response.status_code >= 400:
            assert set(response.json()) == {"error"} and "Traceback" not in response.text

    try:
        one()
    finally:
        session.close()
    assert 200 in statuses and any(400 <= status < 500 for status in statuses), statuses
    assert "Traceback" not in bridge.log_text() and "unexpected error" not in bridge.log_text()
    print(f"aws fuzz statuses: {dict(sorted(statuses.items()))}")
