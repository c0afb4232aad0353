"""Limits on what one callback may make the bridge do: nesting, dimensions, labels, value length, alerts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from bridge.deliver.alertmanager import postable
from bridge.mapping.default import MappingOptions, to_alert
from bridge.mapping.limits import CUT_MARK, LimitExceeded, Limits
from bridge.model import Alarm, AlarmState, InvalidPayload
from bridge.pipeline import to_alerts
from bridge.rules import Rules
from bridge.store.sqlite import SqliteStore
from bridge.vendors import VENDORS, ParseContext
from bridge.vendors._fields import json_depth, load_json
from bridge.vendors.aliyun import VENDOR as aliyun
from tests.harness.fixtures import fixture_bytes
from tests.harness.fuzzing import SLOW_SHAPES, assert_acceptable, deep, pathological
from tests.harness.processes import in_child

NOW = 1_700_000_000.0


def alarm(**changes) -> Alarm:
    base = dict(vendor="tencent", name="cpu_usage", state=AlarmState.FIRING, started_at=NOW - 60, event_at=NOW - 60,
                dimensions={"unInstanceId": "ins-1"})
    return Alarm(**{**base, **changes})


def mapped(one: Alarm, rules: Rules | None = None, **limits: int):
    [alert] = to_alerts([one], rules or Rules(), Limits(**limits), NOW)
    return alert


def tencent_with(**dimensions: str) -> bytes:
    payload = json.loads(fixture_bytes("tencent", "metric-firing.json"))
    payload["alarmObjInfo"]["dimensions"] = dimensions
    return json.dumps(payload).encode()


# --- JSON nesting ---------------------------------------------------------------------------------------

def test_depth_is_measured_outside_strings_without_recursion() -> None:
    assert json_depth('{"a": [1, {"b": "[[[[{{{{"}]}', 32) == 3
    assert json_depth("[" * 1_000_000, 32) == 33  # stops counting past the limit
    assert json_depth('[[1], ["]]]"], {"a": [[2]]}]', 32) == 4


def test_brackets_inside_an_unterminated_string_are_no_error_of_depth() -> None:
    """They are text, not nesting: the 400 says what is wrong, the string (``json.loads`` reads no further)."""
    with pytest.raises(InvalidPayload, match=r"body: not valid JSON \(Unterminated string"):
        load_json(b'"unterminated' + b"[" * 100_000)


@pytest.mark.parametrize("body", [deep(33), deep(33, "{"), deep(1_000_000), deep(1_000_000, "{")])
def test_json_deeper_than_the_limit_is_a_400_not_a_recursion_error(body: bytes) -> None:
    with pytest.raises(InvalidPayload, match="body: JSON nested deeper than 32 levels"):
        load_json(body)


def test_the_depth_limit_is_configurable_and_answered_400(
        make_client: Callable[..., FlaskClient], client: FlaskClient) -> None:
    c = make_client(max_json_depth=3)
    response = c.post("/callbacks/tencent", data=fixture_bytes("tencent", "event-firing.json"),
                      content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "body: JSON nested deeper than 3 levels"}
    assert client.post("/callbacks/tencent", data=fixture_bytes("tencent", "event-firing.json"),
                       content_type="application/json").status_code == 200


def test_deep_json_inside_an_alibaba_form_field_is_harmless() -> None:
    body = urlencode({"alertState": "ALERT", "metricName": "cpu", "dimensions": "[" * 100_000 + "]" * 100_000})
    [parsed] = aliyun.parse(body.encode(), "application/x-www-form-urlencoded", ParseContext(now=NOW)).alarms
    assert parsed.name == "cpu"


@pytest.mark.parametrize("shape", sorted(SLOW_SHAPES))
def test_a_hostile_megabyte_is_answered_in_well_under_a_second(
        make_client: Callable[..., FlaskClient], shape: str) -> None:
    """Quadratic parsing would hold a worker past gunicorn's 30 s timeout: killed, requests in flight lost.

    Run in a child killed after 30 s: a backtracking regex would hang in C, beyond any per-test timeout.
    The second is CPU time, which a busy machine (CI, other tests beside) does not stretch as it does the
    clock; a quadratic parse of a megabyte costs minutes of it."""
    text = pathological(shape, 1 << 20)
    form = urlencode({"alertState": "ALERT", "metricName": "cpu", "dimensions": text}).encode()

    def answers() -> list[tuple[str, str, float, int, Any]]:
        c = make_client(max_body_bytes=4 << 20)
        timed = []
        for vendor, body, content_type in [*((vendor, text.encode(), "application/json") for vendor in VENDORS),
                                           ("aliyun", form, "application/x-www-form-urlencoded")]:
            started = time.process_time()
            response = c.post(f"/callbacks/{vendor}", data=body, content_type=content_type)
            timed.append((vendor, content_type, time.process_time() - started, response.status_code, response.json))
        return timed

    for vendor, content_type, seconds, status, answer in in_child(answers, timeout=30):
        assert seconds < 2, (vendor, content_type, seconds)
        assert status in (200, 400, 403), answer  # 403: a signed push's signature is checked first


# --- dimensions and labels ---------------------------------------------------------------------------------

def test_too_many_dimensions_is_a_400_naming_the_limit(client: FlaskClient, store: SqliteStore) -> None:
    body = tencent_with(**{f"d{i}": "v" for i in range(33)})
    response = client.post("/callbacks/tencent", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "dimensions: 33 given, at most 32 accepted"}
    assert store.stats([], 0).total == 0


def test_too_many_labels_is_refused_by_the_mapping() -> None:
    with pytest.raises(LimitExceeded, match="labels: the alarm maps to 9 labels, at most 8 accepted"):
        mapped(alarm(namespace="n", region="r", policy_id="p", dimensions={"a": "1", "b": "2", "c": "3"}),
               max_labels=8)


def test_a_long_label_value_is_cut_marked_and_kept_whole_in_an_annotation() -> None:
    long = "中" * 3000  # 3 bytes each in UTF-8: cutting characters, never bytes, keeps it valid
    alert = mapped(alarm(dimensions={"objName": long}), max_label_value_length=100)
    assert len(alert.labels["objName"]) == 100
    assert alert.labels["objName"] == "中" * 99 + CUT_MARK
    alert.labels["objName"].encode("utf-8")
    assert alert.annotations["objName_full"] == long
    assert_acceptable(postable(alert, NOW, 240))


def test_values_within_the_limit_are_untouched() -> None:
    alert = mapped(alarm(dimensions={"objName": "x" * 100}), max_label_value_length=100)
    assert alert.labels["objName"] == "x" * 100
    assert "objName_full" not in alert.annotations


def test_limits_apply_to_labels_the_rules_add_too() -> None:
    alert = mapped(alarm(), Rules(external_labels={"team": "t" * 5000}), max_label_value_length=10)
    assert alert.labels["team"] == "t" * 9 + CUT_MARK
    assert alert.annotations["team_full"] == "t" * 5000
    with pytest.raises(LimitExceeded):
        mapped(alarm(), Rules(external_labels={f"l{i}": "v" for i in range(40)}))


def test_a_huge_label_name_is_cut_to_a_valid_name() -> None:
    alert = mapped(alarm(dimensions={"k" * 10_000: "v"}))
    assert "k" * 128 in alert.labels
    assert_acceptable(postable(alert, NOW, 240))


def test_one_callback_may_carry_only_so_many_alerts(
        make_client: Callable[..., FlaskClient], store: SqliteStore) -> None:
    payload = load_json(fixture_bytes("kingsoft", "alarm.json"))
    condition = payload["alarmPolicyInfo"]["conditions"][0]
    payload["alarmPolicyInfo"]["conditions"] = [{**condition, "metricName": f"m{i}"} for i in range(6)]
    response = make_client(max_alerts_per_callback=5).post("/callbacks/kingsoft", data=json.dumps(payload),
                                                           content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "body: 6 alarms in one callback, at most 5 accepted"}
    assert store.stats([], 0).total == 0


# --- times ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("started_at", [-62_135_625_943.0, float("-inf"), float("inf"), float("nan"), 1e300])
def test_absurd_vendor_times_still_give_an_alert_alertmanager_accepts(started_at: float) -> None:
    """Found by fuzzing: a Tencent time before year 1 UTC was stored, then broke every send after it."""
    firing = to_alert(alarm(started_at=started_at, event_at=started_at), MappingOptions(), NOW)
    resolved = to_alert(alarm(started_at=started_at, event_at=started_at, state=AlarmState.RESOLVED,
                              resolved_at=started_at), MappingOptions(), NOW)
    for alert in (firing, resolved):
        assert 0 <= alert.starts_at <= NOW and 0 <= alert.event_at <= NOW
        assert_acceptable(postable(alert, NOW, 240))


def test_a_tencent_time_before_year_one_is_accepted_with_a_sane_start(client: FlaskClient,
                                                                       store: SqliteStore) -> None:
    payload = json.loads(fixture_bytes("tencent", "metric-firing.json"))
    payload["firstOccurTime"] = "0001-01-01 00:00:00"
    response = client.post("/callbacks/tencent", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200
    [stored] = store.active("", 10, time.time(), 0)
    assert stored.alert.starts_at == 0.0  # clamped to the epoch: Alertmanager cannot take year 0 (UTC)
    assert postable(stored.alert, time.time(), 240)["startsAt"] == "1970-01-01T00:00:00.000Z"


# --- responses ----------------------------------------------------------------------------------------------

def test_every_answer_is_json_without_internals(client: FlaskClient) -> None:
    for response in (client.get("/nope"), client.put("/callbacks/tencent"),
                     client.post("/callbacks/tencent", data=b"{", content_type="application/json")):
        assert response.status_code in (400, 404, 405)
        assert response.mimetype == "application/json" and set(response.json) == {"error"}
        assert "Traceback" not in response.get_data(as_text=True) and "/bridge/" not in response.get_data(True)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
