"""Issue 19 items 3 and 10: what one callback may make the bridge store, and what a value may carry."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from bridge.deliver.alertmanager import postable
from bridge.mapping import limits as mapping_limits
from bridge.mapping.default import MappingOptions, to_alert
from bridge.mapping.limits import CUT_MARK, LimitExceeded, Limits, utf8_len
from bridge.model import Alarm, AlarmState, Alert
from bridge.pipeline import parse, to_alerts
from bridge.rules import Rules
from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from bridge.vendors._fields import load_json
from bridge.vendors.tencent import VENDOR as tencent
from tests.harness.fixtures import fixture_bytes
from tests.harness.fuzzing import assert_acceptable

NOW = 1_700_000_000.0


def alarm(**changes) -> Alarm:
    base = dict(vendor="tencent", name="cpu_usage", state=AlarmState.FIRING, started_at=NOW - 60, event_at=NOW - 60,
                dimensions={"unInstanceId": "ins-1"})
    return Alarm(**{**base, **changes})


def alert_bytes(alert: Alert) -> int:
    """What the budgets count: UTF-8 bytes of label and annotation names and values, and the URL."""
    return sum(len(k.encode()) + len(v.encode()) for part in (alert.labels, alert.annotations)
               for k, v in part.items()) + len(alert.generator_url.encode())


def mapped(alarms: list[Alarm], rules: Rules | None = None, **limits: int):
    return to_alerts(alarms, rules or Rules(), Limits(**limits), NOW)


# --- item 3: byte budgets ------------------------------------------------------------------------------------

def test_a_kingsoft_callback_with_a_huge_policy_name_is_stored_within_the_callback_budget(
        make_client: Callable[..., FlaskClient], store: SqliteStore) -> None:
    """The review's shape: a 1 MB policyName copied into 100 alerts once stored ~200-380 MB."""
    payload = load_json(fixture_bytes("kingsoft", "alarm.json"))
    policy = payload["alarmPolicyInfo"]
    policy["policyName"] = "P" * 900_000
    policy["conditions"] = [{**policy["conditions"][0], "metricName": f"m{i}"} for i in range(100)]
    response = make_client().post("/callbacks/kingsoft", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200
    stored = store.active("", 1000, NOW, 0)
    assert len(stored) == 100  # every alarm still fires: only its text is shortened
    assert sum(alert_bytes(s.alert) for s in stored) <= Settings().max_callback_bytes
    assert any(v.endswith(CUT_MARK) for s in stored for v in s.alert.annotations.values())


def test_one_long_annotation_is_cut_to_the_alert_budget_and_the_short_ones_are_kept_whole() -> None:
    [alert] = mapped([alarm(summary="CPU high", description="d" * 100_000, details={"policy_name": "中" * 50_000})],
                     max_alert_bytes=4096)
    assert alert_bytes(alert) <= 4096
    assert alert.annotations["summary"] == "CPU high"
    assert alert.annotations["description"].endswith(CUT_MARK)
    assert alert.annotations["policy_name"].endswith(CUT_MARK)
    alert.annotations["policy_name"].encode("utf-8")  # cut between characters, never inside one
    assert_acceptable(postable(alert, NOW, 240))


def test_the_whole_value_of_a_cut_label_is_kept_only_within_the_budget() -> None:
    [alert] = mapped([alarm(dimensions={"objName": "x" * 50_000})], max_alert_bytes=8192)
    assert alert.labels["objName"].endswith(CUT_MARK)
    assert alert.annotations["objName_full"].endswith(CUT_MARK)
    assert alert_bytes(alert) <= 8192


def test_labels_over_the_alert_budget_are_refused_naming_the_limit() -> None:
    dimensions = {f"d{i}": "v" * 1000 for i in range(20)}
    with pytest.raises(LimitExceeded, match=r"labels: .* at most 4096 accepted \(max_alert_bytes\)"):
        mapped([alarm(dimensions=dimensions)], max_alert_bytes=4096)


def test_a_small_alert_keeps_its_text_when_a_huge_one_shares_its_callback() -> None:
    small, huge = mapped([alarm(description="the disk is full"),
                          alarm(dimensions={"unInstanceId": "ins-2"}, description="h" * 200_000)],
                         max_alert_bytes=1 << 20, max_callback_bytes=16_384)
    assert small.annotations["description"] == "the disk is full"
    assert huge.annotations["description"].endswith(CUT_MARK)
    assert alert_bytes(small) + alert_bytes(huge) <= 16_384


# --- item 10: alert integrity --------------------------------------------------------------------------------

def test_a_dimension_cannot_override_an_external_label() -> None:
    rules = Rules(external_labels={"cluster": "prod", "team": "infra"})
    [alert] = mapped([alarm(dimensions={"unInstanceId": "ins-1", "cluster": "staging"})], rules)
    assert alert.labels["cluster"] == "prod" and alert.labels["team"] == "infra"
    assert alert.labels["dim_cluster"] == "staging"  # kept: it still tells two objects apart
    [same] = mapped([alarm(dimensions={"unInstanceId": "ins-1", "cluster": "prod"})], rules)
    assert "dim_cluster" not in same.labels


@pytest.mark.parametrize("raw", ["ins\x00-1", "\x1b[31mins-1\x1b[0m", "\u202eins-1", "ins-1\u2066", "\x1b]0;x\x07ins-1",
                                 "ins-1\r", "\x9bins-1", "ins\u200b-1", "i\u200c\u200dns-1", "ins-\u20601",
                                 "\ufeffins-1", "ins-1\U000e0041"])
def test_control_characters_escapes_and_bidi_overrides_never_reach_labels(raw: str) -> None:
    [alert] = mapped([alarm(dimensions={"unInstanceId": raw}, description=f"on {raw}\nline two")])
    assert alert.labels["unInstanceId"] == "ins-1"
    assert alert.annotations["description"] == "on ins-1\nline two"  # line breaks stay in annotations


def test_unicode_line_and_paragraph_separators_are_line_breaks_in_annotations_and_spaces_in_labels() -> None:
    [alert] = mapped([alarm(dimensions={"unInstanceId": "ins-1", "disk": "/data\u2028x\u2029"},
                            description="on ins-1\u2029line two\u2028three")])
    assert alert.labels["disk"] == "/data x"
    assert alert.annotations["description"] == "on ins-1\nline two\nthree"


def test_a_value_of_only_control_characters_gives_no_label() -> None:
    [alert] = mapped([alarm(dimensions={"unInstanceId": "ins-1", "note": "\x00\x1b[2J"})])
    assert "note" not in alert.labels  # nothing left: no empty label


@pytest.mark.parametrize("field, value", [("firstOccurTime", "9999-12-31 23:59:59"), ("durationTime", -1e300)])
def test_a_stateless_tencent_event_with_absurd_times_still_expires(field: str, value: object) -> None:
    payload = json.loads(fixture_bytes("tencent", "event-firing.json"))
    payload["alarmStatus"] = "-"
    payload[field] = value
    if field == "durationTime":
        del payload["firstOccurTime"]
    [event] = parse(tencent, json.dumps(payload).encode(), "application/json", Settings(), NOW).alarms
    alert = to_alert(event, MappingOptions(), NOW)
    assert alert.expires_at is not None and NOW <= alert.expires_at <= NOW + 3600


def test_an_event_expiry_is_clamped_like_every_other_time() -> None:
    for expires in (float("inf"), float("nan"), 1e300):
        alert = to_alert(alarm(expires_at=expires), MappingOptions(), NOW)
        assert alert.expires_at is not None and alert.starts_at <= alert.expires_at <= alert.starts_at + 86400


def test_the_callback_budget_cuts_text_never_refuses_labels_that_fit_it_together() -> None:
    many_labels = alarm(dimensions={f"d{i}": "v" * 300 for i in range(10)}, description="short")
    wordy = [alarm(dimensions={"unInstanceId": f"ins-{i}"}, description="w" * 5000) for i in range(3)]
    alerts = mapped([many_labels, *wordy], max_callback_bytes=8192)
    assert alerts[0].annotations["description"] == "short"  # 3 KB of labels, more than an equal share: kept
    assert sum(map(alert_bytes, alerts)) <= 8192
    with pytest.raises(LimitExceeded, match=r"max_callback_bytes"):
        mapped([many_labels, many_labels], max_callback_bytes=4096)


@pytest.mark.parametrize("text", ["", "web-1", "ключ", "名称=值", "é" * 3, "a\u2028b", "🙂x", "\x00\x1f~"])
def test_the_counted_bytes_are_the_utf8_bytes_whether_or_not_a_text_is_ascii(text: str) -> None:
    """The limits count ASCII by length and the rest by encoding: both must give the UTF-8 size."""
    assert utf8_len(text) == len(text.encode())
    values = {text: text, "k": text + "é", text + "n": "v"}
    alert = Alert(labels={"alertname": text or "x", "k": text}, annotations=values, state=AlarmState.FIRING,
                  starts_at=NOW, event_at=NOW, generator_url=f"https://console/{text}")
    assert mapping_limits.alert_bytes(alert) == alert_bytes(alert)
    kept = mapping_limits.within_bytes(alert, alert_bytes(alert) - 1, "max_alert_bytes")
    assert alert_bytes(kept) <= alert_bytes(alert) - 1


def test_a_lone_surrogate_is_refused_by_the_byte_count_as_by_the_encoding() -> None:
    with pytest.raises(UnicodeEncodeError):
        utf8_len("x\ud800")
