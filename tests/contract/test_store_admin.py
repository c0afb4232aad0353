"""Issue 19 item 4: the admin can see what fills the store and purge it, on every backend."""

from __future__ import annotations

import pytest

from bridge.model import AlarmState, Alert
from bridge.store import Outcome, StoreFull
from bridge.store.admin import Selection, parse_matcher, parse_selection, purge, selected
from tests.harness.stores import StoreFactory

NOW = 1_700_000_000.0


def alert(host: str, state: str = "firing", vendor: str = "tencent", severity: str = "warning") -> Alert:
    return Alert(labels={"alertname": "CPUHigh", "vendor": vendor, "host": host, "severity": severity},
                 annotations={"summary": "x"}, state=AlarmState(state), starts_at=NOW - 60, event_at=NOW,
                 ends_at=NOW if state == "resolved" else None, source_vendor=vendor)


def hosts(found) -> list[str]:
    return sorted(s.alert.labels["host"] for s in found)


def test_matchers_vendors_and_states_select_alerts(make_store: StoreFactory) -> None:
    store = make_store()
    store.apply([alert("web-1"), alert("web-2", severity="critical"), alert("db-1", vendor="aliyun"),
                 alert("junk-1", "resolved"), alert("junk-2", "resolved", vendor="kingsoft")], NOW)
    assert hosts(selected(store, Selection(), NOW)) == ["db-1", "junk-1", "junk-2", "web-1", "web-2"]
    assert hosts(selected(store, parse_selection(["host=~web-.*", 'severity!="critical"'], [], []), NOW)) == ["web-1"]
    assert hosts(selected(store, parse_selection([], ["resolved"], []), NOW)) == ["junk-1", "junk-2"]
    assert hosts(selected(store, parse_selection([], [], ["aliyun", "kingsoft"]), NOW)) == ["db-1", "junk-2"]
    assert hosts(selected(store, parse_selection(["region="], [], []), NOW)) == hosts(selected(store, Selection(), NOW))


def test_purging_what_an_attacker_stored_lets_real_alarms_in_again(make_store: StoreFactory) -> None:
    store = make_store(max_alerts=3)
    store.apply([alert("junk-1"), alert("junk-2"), alert("web-1")], NOW)  # firing junk cannot be evicted
    with pytest.raises(StoreFull):
        store.apply([alert("web-2")], NOW)
    assert purge(store, parse_selection(["host=~junk-.*"], [], []), NOW)[0] == 2
    assert hosts(selected(store, Selection(), NOW)) == ["web-1"]
    assert store.apply([alert("web-2")], NOW) == [Outcome.CHANGED]
    assert store.stats([], NOW).total == 2


def test_a_matcher_value_may_be_quoted_and_a_bad_one_is_named() -> None:
    assert parse_matcher('summary="a = b"').value == "a = b"
    for bad in ("host", "9x=1", "host=~(", 'host="unterminated\\"'):
        with pytest.raises(ValueError, match=r"host|9x"):
            parse_matcher(bad)
