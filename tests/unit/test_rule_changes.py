"""Rule changes and the store: an alert fired under old rules still ends, and drops never add alerts."""

from __future__ import annotations

import time
from pathlib import Path

from flask.testing import FlaskClient

from bridge.mapping.limits import Limits
from bridge.model import AlarmState
from bridge.pipeline import to_alerts
from bridge.rules import DROPPED_REASON, Rules
from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from bridge.vendors import VENDORS, ParseContext
from bridge.web.app import create_app
from tests.harness.fixtures import fixture_bytes
from tests.harness.rules import rules

RENAME = {"vendors": {"tencent": {"alert_relabel_configs": [
    {"source_labels": ["objName"], "target_label": "instance"}, {"regex": "objName", "action": "labeldrop"}]}}}
DROP_CVM = {"alert_relabel_configs": [{"source_labels": ["cloud_namespace"], "regex": "qce/cvm", "action": "drop"}]}


def apply(store: SqliteStore, rule_set: Rules, fixture: str, now: float) -> None:
    parsed = VENDORS["tencent"].parse(fixture_bytes("tencent", fixture), "application/json", ParseContext(now=now))
    store.apply(to_alerts(parsed.alarms, rule_set, Limits(), now), now)


def alerts(store: SqliteStore, now: float) -> dict[str, tuple[AlarmState, dict[str, str]]]:
    """Each stored alert's state and annotations, by its instance label (or "-" without one)."""
    return {row.alert.labels.get("instance", "-"): (row.alert.state, row.alert.annotations)
            for row in store.active("", 100, now, 10**9)}


def test_a_recovery_under_new_rules_resolves_the_alert_fired_under_old_ones(store: SqliteStore) -> None:
    now = time.time()
    apply(store, Rules(), "metric-firing.json", now)
    apply(store, rules(RENAME), "metric-resolved.json", now + 1)
    assert {k: v[0] for k, v in alerts(store, now + 1).items()} == {"-": AlarmState.RESOLVED}
    assert store.stats([], now).total == 1


def test_a_repeat_under_new_rules_moves_the_alert_to_its_new_labels(store: SqliteStore) -> None:
    now = time.time()
    apply(store, Rules(), "metric-firing.json", now)
    apply(store, rules(RENAME), "metric-firing.json", now + 1)  # Tencent repeats every alarmNotifyPeriod
    assert {k: v[0] for k, v in alerts(store, now + 1).items()} == {
        "-": AlarmState.RESOLVED, "172.21.30.15#588789": AlarmState.FIRING}


def test_a_dropped_repeat_ends_the_alert_fired_before_the_drop_rule(store: SqliteStore) -> None:
    now = time.time()
    apply(store, Rules(), "metric-firing.json", now)
    apply(store, rules(DROP_CVM), "metric-firing.json", now + 1)
    [(state, annotations)] = alerts(store, now + 1).values()
    assert state is AlarmState.RESOLVED
    assert annotations["resolved_reason"] == DROPPED_REASON


def test_a_dropped_recovery_ends_the_alert_fired_before_the_drop_rule(store: SqliteStore) -> None:
    now = time.time()
    apply(store, Rules(), "metric-firing.json", now)
    apply(store, rules(DROP_CVM), "metric-resolved.json", now + 1)
    assert [state for state, _ in alerts(store, now + 1).values()] == [AlarmState.RESOLVED]


def test_dropped_alarms_never_reach_the_store(store: SqliteStore) -> None:
    now = time.time()
    apply(store, rules(DROP_CVM), "metric-firing.json", now)
    apply(store, rules(DROP_CVM), "metric-resolved.json", now + 1)
    assert store.stats([], now).total == 0


def test_objects_that_rules_give_one_label_set_share_one_alert(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "full.db", max_alerts=2, synchronous="OFF")  # a third row would be refused
    now = time.time()
    merge = rules({"alert_relabel_configs": [{"regex": "objName|objId|unInstanceId", "action": "labeldrop"}]})
    apply(store, merge, "metric-firing.json", now)
    apply(store, merge, "vpc-bandwidth-firing.json", now)
    other = fixture_bytes("tencent", "metric-firing.json").replace(b"ins-o9p3rg3m", b"ins-other")
    parsed = VENDORS["tencent"].parse(other, "application/json", ParseContext(now=now))
    outcomes = store.apply(to_alerts(parsed.alarms, merge, Limits(), now), now)
    assert [o.value for o in outcomes] == ["unchanged"]
    assert store.stats([], now).total == 2


def sample(client: FlaskClient, name: str, labels: dict[str, str] | None = None) -> float | None:
    """A metric of the app behind ``client``."""
    return client.application.extensions["bridge"].metrics.registry.get_sample_value(name, labels or {})


def test_post_reload_applies_a_valid_file_and_refuses_an_invalid_one(tmp_path: Path, store: SqliteStore) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("external_labels: {team: infra}\n")
    client = create_app(Settings(config_file=str(config)), store=store).test_client()
    body = fixture_bytes("tencent", "metric-firing.json")

    assert client.post("/callbacks/tencent", data=body, content_type="application/json").status_code == 200
    config.write_text("external_labels: {team: storage}\n")
    assert client.post("/-/reload").status_code == 200
    assert sample(client, "cloud_alarm_bridge_config_last_reload_successful") == 1
    config.write_text("external_labels: {team: [not, a, string]}\n")
    response = client.post("/-/reload")
    assert response.status_code == 500
    assert "external_labels.team: the value must be a non-empty string" in response.text
    assert sample(client, "cloud_alarm_bridge_config_last_reload_successful") == 0
    dropped_before = sample(client, "cloud_alarm_bridge_alerts_dropped_total", {"vendor": "tencent"}) or 0
    assert client.post("/callbacks/tencent", data=body.replace(b"ins-o9p3rg3m", b"ins-2"),
                       content_type="application/json").status_code == 200

    teams = sorted(row.alert.labels["team"] for row in store.active("", 100, time.time(), 10**9))
    assert teams == ["infra", "storage"]
    assert sample(client, "cloud_alarm_bridge_alerts_dropped_total", {"vendor": "tencent"}) == dropped_before
    assert client.get("/-/reload").status_code == 405


def test_reload_needs_the_token_when_one_is_configured(tmp_path: Path, store: SqliteStore) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("external_labels: {team: infra}\n")
    client = create_app(Settings(tokens=("s3cret",), config_file=str(config)), store=store).test_client()
    assert client.post("/-/reload").status_code == 401
    assert client.post("/-/reload?token=s3cret").status_code == 200


def test_reload_without_a_configuration_file_says_there_is_nothing_to_reload(store: SqliteStore) -> None:
    response = create_app(Settings(), store=store).test_client().post("/-/reload")
    assert (response.status_code, response.text) == (400, "nothing to reload: serve was started without --config\n")


def test_reload_says_which_changed_settings_wait_for_a_restart(tmp_path: Path, store: SqliteStore) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("listen: 0.0.0.0:8080\nexternal_labels: {team: infra}\n")
    client = create_app(Settings(config_file=str(config)), store=store).test_client()
    config.write_text("listen: 0.0.0.0:9090\nalertmanager_urls: [http://am:9093]\nexternal_labels: {team: ops}\n")
    response = client.post("/-/reload")
    assert (response.status_code, response.text) == (
        200, "OK: rules reloaded; restart to apply alertmanager_urls, listen\n")
    config.write_text("listen: 0.0.0.0:8080\nexternal_labels: {team: storage}\n")
    assert client.post("/-/reload").text == "OK\n"


def test_dropped_alarms_are_counted(tmp_path: Path, store: SqliteStore) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("alert_relabel_configs: [{source_labels: [cloud_namespace], regex: qce/cvm, action: drop}]\n")
    client = create_app(Settings(config_file=str(config)), store=store).test_client()
    before = sample(client, "cloud_alarm_bridge_alerts_dropped_total", {"vendor": "tencent"}) or 0
    response = client.post("/callbacks/tencent", data=fixture_bytes("tencent", "metric-firing.json"),
                           content_type="application/json")
    assert response.status_code == 200
    assert response.json == {"sessionId": "xxxxxxxx", "retCode": 0}
    assert sample(client, "cloud_alarm_bridge_alerts_dropped_total", {"vendor": "tencent"}) == before + 1
    assert store.stats([], time.time()).total == 0


def test_store_metrics_keep_the_vendor_when_rules_drop_its_label(store: SqliteStore) -> None:
    now = time.time()
    apply(store, rules({"alert_relabel_configs": [{"regex": "vendor", "action": "labeldrop"}]}),
          "metric-firing.json", now)
    assert store.stats([], now).alerts_by_vendor_state == {("tencent", "firing"): 1}


def test_a_rule_that_copies_display_text_into_a_label_keeps_one_alert_per_object(store: SqliteStore) -> None:
    """The identity is the vendor's, computed before the rules: ``instance`` (from objName) may change freely."""
    now = time.time()
    renamed = fixture_bytes("tencent", "metric-firing.json").replace(b"172.21.30.15#", b"172.21.30.99#")
    renamed = renamed.replace(b'"durationTime": 500', b'"durationTime": 560')
    apply(store, rules(RENAME), "metric-firing.json", now)
    parsed = VENDORS["tencent"].parse(renamed, "application/json", ParseContext(now=now + 1))
    store.apply(to_alerts(parsed.alarms, rules(RENAME), Limits(), now + 1), now + 1)
    assert {k: v[0] for k, v in alerts(store, now + 1).items()} == {
        "172.21.30.15#588789": AlarmState.RESOLVED, "172.21.30.99#588789": AlarmState.FIRING}
    apply(store, rules(RENAME), "metric-resolved.json", now + 2)  # the recovery names the old address
    assert {v[0] for v in alerts(store, now + 2).values()} == {AlarmState.RESOLVED}
