"""The soak's checker (bench/soak/model.py) finds what it exists to find: a soak whose checker could not
fail would report zero lost and zero resurrected whatever the bridge did."""

from __future__ import annotations

from typing import Any

from bench.soak.model import Model, check, failures
from bench.soak.vendors import SHAPES, Change

VENDOR = "tencent"
LABEL = SHAPES[VENDOR].label
AM = "http://am:9093"


def change(obj: str, firing: bool, at: int, number: int = 0) -> Change:
    return Change(id=number, vendor=VENDOR, obj=obj, firing=firing, event_at=at, started_at=at)


def alert(obj: str) -> dict[str, Any]:
    """An active alert as Alertmanager's GET /api/v2/alerts returns it (resolved ones are not returned)."""
    return {"labels": {"vendor": VENDOR, "alertname": "cpu_usage", LABEL: obj}}


def model_of(*changes: Change) -> Model:
    model = Model()
    for each in changes:
        model.acknowledge(each)
    return model


def test_the_last_word_is_the_latest_vendor_time_not_the_latest_acknowledgement() -> None:
    model = model_of(change("a", True, 100), change("a", False, 200), change("a", True, 150))  # a late retry
    assert model.last["a"].firing is False and model.acknowledged == 3 and model.acknowledged_stale == 1
    tie = model_of(change("b", True, 300), change("b", False, 300))
    assert tie.last["b"].firing is False, "at the same second a recovery wins, as the bridge decides"


def test_a_firing_object_missing_from_alertmanager_is_lost() -> None:
    result = check(model_of(change("a", True, 100)), {AM: []})
    assert [(x["object"], x["alertmanager"]) for x in result["lost"]] == [("a", AM)] and failures(result) == 1


def test_a_resolved_object_still_active_is_resurrected() -> None:
    result = check(model_of(change("a", True, 100), change("a", False, 200)), {AM: [alert("a")]})
    assert [x["object"] for x in result["resurrected"]] == ["a"] and failures(result) == 1


def test_two_active_alerts_for_one_object_are_duplicates() -> None:
    twice = [alert("a"), {"labels": {**alert("a")["labels"], "alertname": "renamed"}}]
    result = check(model_of(change("a", True, 100)), {AM: twice})
    assert [(x["object"], x["alerts"]) for x in result["duplicates"]] == [("a", 2)] and failures(result) == 1


def test_an_alert_for_an_object_never_acknowledged_is_unknown() -> None:
    result = check(model_of(change("a", True, 100)), {AM: [alert("a"), alert("ghost")]})
    assert [(x["alertmanager"], x["object"]) for x in result["unknown"]] == [(AM, "ghost")] and failures(result) == 1


def test_every_alertmanager_is_held_to_the_model_on_its_own() -> None:
    model = model_of(change("a", True, 100), change("b", False, 100))
    result = check(model, {AM: [alert("a")], "http://am-2:9093": [alert("b")]})
    assert [x["alertmanager"] for x in result["lost"]] == ["http://am-2:9093"]
    assert [x["alertmanager"] for x in result["resurrected"]] == ["http://am-2:9093"]
    assert check(model, {AM: [alert("a")]})["objects"] == {"firing": 1, "resolved": 1}
    assert failures(check(model, {AM: [alert("a")]})) == 0
