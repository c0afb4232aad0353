"""Huawei Cloud Eye alarms through SMN, end to end: a real serve checks every signature against a certificate
fetched from a local HTTPS server under a test CA (trusted with --signing-host/--signing-ca-file), and a
real Alertmanager shows what it let through."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from bridge.verify import Rejected
from tests.harness import smn
from tests.harness.alertmanager import Alertmanager, active
from tests.harness.bridge_process import Bridge, metric
from tests.harness.fixtures import fixture_bytes
from tests.harness.hostile import hostile_callbacks
from tests.harness.signing import SigningServer

pytestmark = pytest.mark.e2e
TOPIC = smn.TOPIC
ALLOWED = "urn:smn:*:0a1b2c3d4e5f40718293a4b5c6d7e8f9:CES_*"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, signing_server: SigningServer
          ) -> Iterator[tuple[Alertmanager, Bridge, SigningServer]]:
    """One Alertmanager and one serve for the module. One worker: the gate remembers confirmations per process."""
    workdir = tmp_path_factory.mktemp("huawei")
    (workdir / "am").mkdir()
    am = Alertmanager(workdir / "am").start()
    bridge = Bridge(workdir, [am.url], "--workers=1", "--resend-interval=1", f"--allow-topic=huawei={ALLOWED}",
                    *signing_server.bridge_args("huawei")).start()
    signing_server.serve_certificate(smn.CERTIFICATE_PATH)
    signing_server.serve(smn.CONFIRM_PATH, b'{"request_id": "1", "subscription_urn": "urn:smn:x"}')
    yield am, bridge, signing_server
    bridge.stop()
    am.stop()


def alarm(resource: str, firing: bool = True) -> str:
    """The real JSON-template alarm (tests/fixtures/huawei), about ``resource``."""
    name = "template-dcs-firing.json" if firing else "template-dcs-resolved.json"
    message = json.loads(json.loads(fixture_bytes("huawei", name))["message"])
    message["data"]["ResourceId"] = resource
    return json.dumps(message, ensure_ascii=False)


def post(bridge: Bridge, body: dict):
    return bridge.post("huawei", smn.encoded(body), headers=smn.headers_for(body))


def signed(server: SigningServer, message: str, **kwargs) -> dict:
    return smn.sign(smn.envelope(message, cert_url=server.base + smn.CERTIFICATE_PATH, base=server.base, **kwargs),
                    server.ca)


def firing_on(am: Alertmanager, resource: str) -> list[dict]:
    return active(am.alerts(vendor="huawei", resource_id=resource))


def test_a_signed_alarm_fires_a_repeat_changes_nothing_and_the_recovery_resolves_it(stack) -> None:
    am, bridge, server = stack
    body = signed(server, alarm("r-fire"))
    assert post(bridge, body).status_code == 200
    [alert] = am.wait_for(lambda alerts: firing_on(am, "r-fire"), message="the alarm fires")
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["region"] == "cn-east-3"

    unchanged = metric(bridge.metrics(), 'cloud_alarm_bridge_alarm_changes_total{outcome="unchanged",vendor="huawei"}')
    assert post(bridge, body).status_code == 200  # SMN retrying the same message
    assert metric(bridge.metrics(),
                  'cloud_alarm_bridge_alarm_changes_total{outcome="unchanged",vendor="huawei"}') == unchanged + 1
    assert len(firing_on(am, "r-fire")) == 1

    assert post(bridge, signed(server, alarm("r-fire", firing=False))).status_code == 200
    am.wait_for(lambda alerts: not firing_on(am, "r-fire"), message="the recovery resolves it")


def test_a_changed_byte_is_refused_nothing_is_stored_and_the_body_is_not_logged(stack) -> None:
    am, bridge, server = stack
    body = signed(server, alarm("r-tamper"))
    body["message"] = body["message"].replace("r-tamper", "r-tampex")
    response = post(bridge, body)
    assert response.status_code == 403 and "signature" in response.json()["error"]
    assert post(bridge, signed(server, alarm("r-after"))).status_code == 200
    am.wait_for(lambda alerts: firing_on(am, "r-after"), message="the genuine alarm posted after it")
    assert not am.alerts(resource_id="r-tampex") and not am.alerts(resource_id="r-tamper")
    assert "r-tampex" not in bridge.log_text()


@pytest.mark.parametrize(("where", "reason"), [
    ("https://localhost:{port}/smn/SMN_cn-north-4_outside.pem", "host 'localhost' is not one of the service's hosts"),
    ("http://127.0.0.1:{port}/smn/SMN_cn-north-4_plain.pem", "must be an https URL"),
])
def test_a_certificate_off_the_smn_hosts_or_over_http_is_refused_without_a_fetch(stack, where: str,
                                                                                 reason: str) -> None:
    _, bridge, server = stack
    cert_url = where.format(port=server.port)
    body = smn.sign(smn.envelope(alarm("r-cert"), cert_url=cert_url, base=server.base), server.ca)
    response = post(bridge, body)
    assert response.status_code == 403 and reason in response.json()["error"]
    assert server.fetched(cert_url.split(str(server.port))[1]) == 0


def test_an_unknown_topic_is_refused_before_anything_is_fetched(stack) -> None:
    _, bridge, server = stack
    path = "/smn/SMN_cn-north-4_othertopic.pem"
    server.serve_certificate(path)
    body = smn.sign(smn.envelope(alarm("r-topic"), topic="urn:smn:cn-north-4:ffffffffffffffffffffffffffffffff:other",
                                 cert_url=server.base + path, base=server.base), server.ca)
    response = post(bridge, body)
    assert response.status_code == 403 and "topic" in response.json()["error"]
    assert server.fetched(path) == 0


def test_a_subscription_is_confirmed_once_and_unsubscribe_links_are_never_followed(stack) -> None:
    _, bridge, server = stack
    confirmation = signed(server, "You are invited to subscribe to topic: …", kind="SubscriptionConfirmation")
    target = confirmation["subscribe_url"].removeprefix(server.base)
    assert post(bridge, confirmation).status_code == 200
    assert post(bridge, confirmation).status_code == 200  # SMN sending it again
    assert server.fetched(target) == 1

    goodbye = signed(server, "You are unsubscribed from topic: …", kind="UnsubscribeConfirmation")
    assert post(bridge, goodbye).status_code == 200
    assert server.fetched(goodbye["subscribe_url"].removeprefix(server.base)) == 0
    assert server.fetched(smn.UNSUBSCRIBE_PATH) == 0  # every notification above carried an unsubscribe_url
    assert "confirmed the subscription" in bridge.log_text() and TOPIC in bridge.log_text()



def test_hostile_alarms_signed_by_smn_get_no_5xx_and_a_genuine_one_still_goes_through(stack) -> None:
    """The hostile strategy's Huawei bodies (values made hostile inside SMN's message), signed as SMN would:
    they pass the gate and reach the parser, the mapping and the store of the real serve."""
    am, bridge, server = stack
    statuses: Counter[int] = Counter()

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(callback=hostile_callbacks("huawei", "application/json"))
    def one(callback: tuple[bytes, str]) -> None:
        envelope = json.loads(callback[0].decode("utf-8", "surrogatepass"))
        envelope.update(topic_urn=TOPIC, signing_cert_url=server.base + smn.CERTIFICATE_PATH, signature_version="v1")
        signable = True
        try:
            envelope = smn.sign(envelope, server.ca)
        except Rejected:  # a signed field made a number: nothing SMN could have signed (a 403 below)
            signable = False
        response = bridge.post("huawei", json.dumps(envelope).encode())  # ASCII: escapes carry lone surrogates
        statuses[response.status_code] += 1
        assert response.status_code in ((200, 400) if signable else (403,)), (response.status_code, response.text)
        if response.status_code == 400:
            assert set(response.json()) == {"error"} and "Traceback" not in response.text

    one()
    print(f"hostile SMN alarms: {dict(statuses)}")
    assert statuses[200] >= 20, statuses  # most reach the alarm: the strategy is not stopped at the gate
    assert post(bridge, signed(server, alarm("r-after-hostile"))).status_code == 200
    am.wait_for(lambda alerts: firing_on(am, "r-after-hostile"), timeout=30,
                message="a genuine alarm after the hostile ones")
    assert "Traceback" not in bridge.log_text() and "unexpected error" not in bridge.log_text()


def test_a_signed_message_that_only_looks_like_json_is_ignored_and_an_alarm_without_is_alarm_refused(stack) -> None:
    """Authentic text that is no Cloud Eye alarm is answered 200 (SMN blacklists what keeps failing), as AWS
    answers it; a JSON-template metric alarm without ``IsAlarm`` is a 400 that names it, never a recovery."""
    am, bridge, server = stack
    assert post(bridge, signed(server, alarm("r-flag"))).status_code == 200
    am.wait_for(lambda alerts: firing_on(am, "r-flag"), message="the alarm fires")

    response = post(bridge, signed(server, "{not json, though it starts like it"))
    assert response.status_code == 200 and "not a Cloud Eye alarm" in response.json()["ignored"]

    message = json.loads(alarm("r-flag", firing=False))
    del message["data"]["IsAlarm"]
    response = post(bridge, signed(server, json.dumps(message, ensure_ascii=False)))
    assert response.status_code == 400 and "message.data.IsAlarm: must be true or false" in response.text
    assert len(firing_on(am, "r-flag")) == 1, "still firing: an unreadable flag resolves nothing"
