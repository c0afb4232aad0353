"""The default mapping: identity in labels, valid names, changing values in annotations."""

from __future__ import annotations

import re

from bridge.mapping.default import MappingOptions, label_name, to_alert
from bridge.model import Alarm, AlarmState, Alert, object_key_of

NOW = 1_700_000_000.0
VALID_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def alarm(**changes) -> Alarm:
    base = dict(vendor="tencent", name="cpu_usage", state=AlarmState.FIRING, started_at=NOW - 60, event_at=NOW - 60,
                namespace="qce/cvm", region="gz", policy_id="policy-1", dimensions={"unInstanceId": "ins-1"},
                details={"current_value": "99"}, summary="CPU high", console_url="https://console.example/")
    return Alarm(**{**base, **changes})


def test_labels_hold_identity_and_annotations_hold_values() -> None:
    alert = to_alert(alarm(), MappingOptions(), NOW)
    assert alert.labels == {"alertname": "cpu_usage", "vendor": "tencent", "cloud_namespace": "qce/cvm",
                            "region": "gz", "policy_id": "policy-1", "severity": "warning", "unInstanceId": "ins-1"}
    assert alert.annotations == {"summary": "CPU high", "current_value": "99"}
    assert alert.generator_url == "https://console.example/"


def named_as_in_0_1_0(labels: dict[str, str]) -> dict[str, str]:
    """Object keys are hashed under the label names of 0.1.0, where cloud_namespace was namespace."""
    return {("namespace" if k == "cloud_namespace" else k): v for k, v in labels.items()}


def test_the_cloud_product_is_cloud_namespace_and_namespace_stays_kubernetes() -> None:
    # kube-prometheus-stack inhibits on `namespace`, and AlertmanagerConfig matches its own namespace.
    alert = to_alert(alarm(dimensions={"namespace": "ns-dimension"}), MappingOptions(), NOW)
    assert alert.labels["cloud_namespace"] == "qce/cvm"
    assert "namespace" not in alert.labels and alert.labels["dim_namespace"] == "ns-dimension"
    # Alarms stored under the label names of 0.1.0 keep their object key: a recovery after the
    # upgrade still resolves what fired before it.
    before = {("namespace" if k == "cloud_namespace" else k): v for k, v in alert.labels.items()}
    assert alert.object_key == object_key_of(before)


def test_the_default_severity_is_configurable_and_a_vendor_severity_wins() -> None:
    options = MappingOptions(default_severity="critical")
    assert to_alert(alarm(), options, NOW).labels["severity"] == "critical"
    assert to_alert(alarm(severity="info"), options, NOW).labels["severity"] == "info"


def test_a_dimension_never_overwrites_a_core_label() -> None:
    alert = to_alert(alarm(dimensions={"region": "cn-shenzhen", "vendor": "x"}), MappingOptions(), NOW)
    assert alert.labels["region"] == "gz"
    assert alert.labels["dim_region"] == "cn-shenzhen"
    assert alert.labels["vendor"] == "tencent" and alert.labels["dim_vendor"] == "x"


def test_names_are_made_valid_for_alertmanager_0_25() -> None:
    dims = {"__region__": "gz", "obj-name": "a", "9lives": "b", "中文": "c", "a.b": "d"}
    alert = to_alert(alarm(dimensions=dims, details={"last-time": "2分钟"}), MappingOptions(), NOW)
    names = list(alert.labels) + list(alert.annotations)
    assert all(VALID_NAME.match(n) and not n.startswith("__") for n in names), names
    assert alert.labels["region__"] == "gz" and alert.labels["obj_name"] == "a" and alert.labels["_9lives"] == "b"
    assert alert.annotations["last_time"] == "2分钟"


def test_dimensions_whose_names_clean_alike_each_keep_a_label() -> None:
    """Two objects that differ only in such a dimension must stay two alerts."""
    dims = {"名称": "web", "中文": "db", "a.b": "1", "a-b": "2", "a_b": "3", "region": "r1", "dim_region": "r2"}
    labels = to_alert(alarm(dimensions=dims), MappingOptions(), NOW).labels
    assert {k: v for k, v in labels.items() if k.startswith(("unnamed", "a_b", "dim_region"))} == {
        "unnamed": "db", "unnamed_2": "web",  # in the order of the original names: 中 (U+4E2D) before 名
        "a_b": "3", "a_b_2": "2", "a_b_3": "1",  # a name that needs no cleaning keeps it
        "dim_region": "r2", "dim_region_2": "r1"}
    other = to_alert(alarm(dimensions={**dims, "a.b": "other"}), MappingOptions(), NOW)
    assert other.object_key != to_alert(alarm(dimensions=dims), MappingOptions(), NOW).object_key
    reordered = dict(reversed(list(dims.items())))  # the vendor's key order changes nothing
    assert to_alert(alarm(dimensions=reordered), MappingOptions(), NOW).labels == labels


def test_empty_values_are_dropped_and_lone_surrogates_replaced() -> None:
    alert = to_alert(alarm(region="", dimensions={"empty": "", "odd": "x\ud800y"}), MappingOptions(), NOW)
    assert "region" not in alert.labels and "empty" not in alert.labels
    assert alert.labels["odd"] == "x?y"
    alert.labels["odd"].encode("utf-8")


def test_times_from_a_skewed_vendor_clock_are_clamped() -> None:
    future = to_alert(alarm(started_at=NOW + 3600, event_at=NOW + 3600), MappingOptions(), NOW)
    assert future.starts_at == NOW
    resolved = to_alert(alarm(state=AlarmState.RESOLVED, started_at=NOW - 10, resolved_at=NOW - 20),
                        MappingOptions(), NOW)
    assert resolved.ends_at == NOW - 10  # never before startsAt: Alertmanager would answer 400


def test_severity_and_data_state_do_not_change_the_object_key() -> None:
    warn = to_alert(alarm(severity="warning"), MappingOptions(), NOW)
    crit = to_alert(alarm(severity="critical", alarm_state="insufficient_data"), MappingOptions(), NOW)
    other = to_alert(alarm(dimensions={"unInstanceId": "ins-2"}), MappingOptions(), NOW)
    assert warn.fingerprint != crit.fingerprint
    assert warn.object_key == crit.object_key != other.object_key


def test_label_name_never_returns_an_empty_name() -> None:
    assert label_name("___") == "unnamed"
    assert label_name("-") == "unnamed"


# --- identity: which dimensions name the object, which are display text ----------------------------
def test_display_dimensions_stay_labels_but_not_the_object_key() -> None:
    """A renamed instance keeps its object key, so the store resolves the old label set when the new one fires."""
    def mapped(instance: str, name: str) -> Alert:
        dims = {"unInstanceId": instance, "objName": name}
        return to_alert(alarm(dimensions=dims, identity=frozenset({"unInstanceId"})), MappingOptions(), NOW)

    before, renamed, other = mapped("ins-1", "web-1"), mapped("ins-1", "web-2"), mapped("ins-2", "web-1")
    assert before.labels["objName"] == "web-1" and renamed.labels["objName"] == "web-2"
    assert before.fingerprint != renamed.fingerprint
    assert before.object_key == renamed.object_key != other.object_key


def test_without_a_declared_identity_every_dimension_identifies_and_keys_are_unchanged() -> None:
    """Payloads that worked before keep their object keys: the store finds what they fired."""
    dims = {"unInstanceId": "ins-1", "objName": "web-1"}
    alert = to_alert(alarm(dimensions=dims), MappingOptions(), NOW)
    assert alert.object_key == object_key_of(named_as_in_0_1_0(alert.labels))
    all_named = to_alert(alarm(dimensions=dims, identity=frozenset(dims)), MappingOptions(), NOW)
    assert all_named.object_key == alert.object_key


def test_when_no_identity_dimension_is_present_every_dimension_identifies() -> None:
    """Leaving all dimensions out would merge two objects that only display text tells apart."""
    ids = frozenset({"unInstanceId"})
    one = to_alert(alarm(dimensions={"objName": "web-1"}, identity=ids), MappingOptions(), NOW)
    two = to_alert(alarm(dimensions={"objName": "web-2"}, identity=ids), MappingOptions(), NOW)
    assert one.object_key != two.object_key


def test_a_display_dimension_whose_name_collides_is_left_out_under_its_label() -> None:
    """``a.b`` is display text, ``a-b`` an id; both clean to ``a_b``, so only the name tells them apart."""

    def key(display: str, ident: str) -> str:
        dims = {"id": "1", "a.b": display, "a-b": ident}
        return to_alert(alarm(dimensions=dims, identity=frozenset({"id", "a-b"})), MappingOptions(), NOW).object_key

    assert key("x", "y") == key("z", "y") != key("x", "w")


def test_an_alert_names_its_former_key_when_display_text_left_its_identity() -> None:
    """Alerts fired by a version that keyed on every label are found under that key too (the store looks)."""
    dims = {"unInstanceId": "ins-1", "objName": "web-1"}
    renamed = to_alert(alarm(dimensions=dims, identity=frozenset({"unInstanceId"})), MappingOptions(), NOW)
    assert renamed.former_key == object_key_of(named_as_in_0_1_0(renamed.labels)) != renamed.object_key
    assert renamed.object_keys == (renamed.object_key, renamed.former_key)
    plain = to_alert(alarm(dimensions=dims), MappingOptions(), NOW)
    assert plain.former_key == "" and plain.object_keys == (plain.object_key,)
