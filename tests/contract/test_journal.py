"""The recent-callbacks journal's contract, on every backend: what the inspector (GET /, /api/v1/callbacks)
shows, shared by every replica of a store, and bounded by count and bytes, with refused callbacks held to a
budget of their own, so a flood of garbage cannot push out the callbacks that became alerts."""

from __future__ import annotations

from dataclasses import replace

from bridge.model import AlarmState, Alert
from bridge.store import CallbackRecord, JournalCaps, JournalQuery, Store, StoreFull
from bridge.store.journal import REJECTIONS_KEPT
from tests.harness.stores import StoreFactory

T0 = 1_700_000_000.25


def alert(host: str = "web-1", state: str = "firing") -> Alert:
    return Alert(labels={"alertname": "CPUHigh", "vendor": "tencent", "host": host}, annotations={"summary": "s"},
                 state=AlarmState(state), starts_at=T0 - 60, event_at=T0, generator_url="")


def record(n: int, outcome: str = "accepted", vendor: str = "tencent", body: str = "{}",
           alerts: tuple[Alert, ...] = (), status: int | None = None) -> CallbackRecord:
    return CallbackRecord(received_at=T0 + n, vendor=vendor, source="10.0.0.1", outcome=outcome,
                          status=status or (200 if outcome == "accepted" else 401), body=body, body_bytes=len(body),
                          error="" if outcome == "accepted" else "missing or wrong token",
                          alerts=tuple({"labels": a.labels, "annotations": a.annotations, "state": a.state.value,
                                        "fingerprint": a.fingerprint} for a in alerts))


def listed(store: Store, **query) -> list[tuple[float, str]]:
    return [(r.received_at - T0, r.outcome) for r in store.callbacks(JournalQuery(**{"limit": 1000, **query}))]


def test_an_accepted_callback_is_recorded_with_its_alerts_and_what_they_changed(make_store: StoreFactory) -> None:
    store = make_store()
    store.apply([alert()], T0, record(1, alerts=(alert(),)))
    store.apply([alert(), alert("web-2")], T0 + 2, record(2, alerts=(alert(), alert("web-2"))))
    newest, oldest = store.callbacks(JournalQuery())
    assert (newest.received_at, oldest.received_at) == (T0 + 2, T0 + 1)
    assert newest.outcomes == ("unchanged", "changed")
    assert newest.as_dict()["alerts"][1]["labels"]["host"] == "web-2"
    assert newest.as_dict()["alerts"][1]["outcome"] == "changed"
    assert newest.id > oldest.id
    assert make_store().callbacks(JournalQuery())[0] == newest  # another replica sees it


def test_a_callback_the_store_refuses_leaves_no_accepted_record(make_store: StoreFactory) -> None:
    store = make_store(max_alerts=1)
    store.apply([alert()], T0, record(1))
    try:
        store.apply([alert("web-2")], T0 + 1, record(2))
    except StoreFull:
        pass
    else:
        raise AssertionError("the store took an alert past its cap")
    assert listed(store) == [(1, "accepted")]


def test_refused_callbacks_are_recorded_in_one_write_and_filtered(make_store: StoreFactory) -> None:
    store = make_store()
    store.apply([alert()], T0, record(1))
    store.record_callbacks([record(2, "unauthorized"), record(3, "invalid", vendor="aliyun")])
    assert listed(store) == [(3, "invalid"), (2, "unauthorized"), (1, "accepted")]
    assert listed(store, outcome="refused") == [(3, "invalid"), (2, "unauthorized")]
    assert listed(store, outcome="accepted") == [(1, "accepted")]
    assert listed(store, vendor="aliyun") == [(3, "invalid")]
    assert listed(store, vendor="tencent", outcome="unauthorized") == [(2, "unauthorized")]
    assert listed(store, limit=2) == [(3, "invalid"), (2, "unauthorized")]
    before = store.callbacks(JournalQuery(limit=1))[0].id
    assert listed(store, before=before) == [(2, "unauthorized"), (1, "accepted")]


def test_callbacks_answered_2xx_are_not_refused(make_store: StoreFactory) -> None:
    store = make_store()
    store.record_callbacks([record(1, "subscription_confirmation", status=200), record(2, "ignored", status=200),
                            record(3, "url_check", status=200), record(4, "unverified", status=403)])
    assert listed(store, outcome="refused") == [(4, "unverified")]
    assert listed(store, outcome="ignored") == [(2, "ignored")]


def test_the_journal_keeps_the_newest_records_within_its_count(make_store: StoreFactory) -> None:
    store = make_store(journal=JournalCaps(max_callbacks=8, max_bytes=1 << 20))
    for n in range(20):
        store.apply([alert(f"web-{n}")], T0 + n, record(n))
    assert [when for when, _ in listed(store)] == list(range(19, 11, -1))
    assert store.journal_size()[0] == 8


def test_the_journal_keeps_the_newest_records_within_its_bytes(make_store: StoreFactory) -> None:
    one = len(record(0, body="x" * 1000).to_json())
    store = make_store(journal=JournalCaps(max_callbacks=1000, max_bytes=one * 5 + one // 2))
    for n in range(10, 30):
        store.apply([alert(f"web-{n}")], T0 + n, record(n, body="x" * 1000))
    count, size = store.journal_size()
    assert [when for when, _ in listed(store)] == [29, 28, 27, 26, 25]
    assert count == 5
    assert one * 5 <= size <= one * 5 + one // 2


def test_a_flood_of_refused_callbacks_evicts_no_accepted_one(make_store: StoreFactory) -> None:
    """Refused callbacks have a budget of their own, a quarter of the journal's, beside the accepted ones'."""
    store = make_store(journal=JournalCaps(max_callbacks=8, max_bytes=1 << 20))
    for n in range(8):
        store.apply([alert(f"web-{n}")], T0 + n, record(n))
    for start in range(100, 400, 50):
        store.record_callbacks([record(n, "unauthorized") for n in range(start, start + 50)])
    assert listed(store, outcome="accepted") == [(n, "accepted") for n in range(7, -1, -1)]  # all 8 kept
    assert listed(store, outcome="refused") == [(399, "unauthorized"), (398, "unauthorized")]
    assert store.journal_size()[0] == 10


def test_callbacks_answered_2xx_share_the_accepted_budget_not_the_refused_one(make_store: StoreFactory) -> None:
    store = make_store(journal=JournalCaps(max_callbacks=8, max_bytes=1 << 20))
    store.record_callbacks([record(n, "subscription_confirmation", status=200) for n in range(4)])
    store.record_callbacks([record(n, "unauthorized") for n in range(10, 20)])
    assert [when for when, _ in listed(store, outcome="subscription_confirmation")] == [3, 2, 1, 0]


def test_an_accepted_callback_evicts_the_oldest_records_whatever_they_are(make_store: StoreFactory) -> None:
    """Past the accepted budget, the oldest go, refused ones older than them too: the journal shows one window."""
    store = make_store(journal=JournalCaps(max_callbacks=8, max_bytes=1 << 20))
    store.record_callbacks([record(0, "unauthorized")])
    for n in range(1, 10):
        store.apply([alert(f"web-{n}")], T0 + n, record(n))
    assert listed(store) == [(n, "accepted") for n in range(9, 1, -1)]
    store.record_callbacks([record(20, "invalid")])
    store.apply([alert("web-21")], T0 + 21, record(21))
    assert listed(store)[:3] == [(21, "accepted"), (20, "invalid"), (9, "accepted")]  # a newer refused one stays


def test_a_flood_of_large_refused_bodies_is_held_to_a_quarter_of_the_bytes(make_store: StoreFactory) -> None:
    one = len(record(0, body="x" * 1000).to_json()) + len("changed")  # the record and its alert's outcome
    store = make_store(journal=JournalCaps(max_callbacks=1000, max_bytes=one * 8))
    for n in range(8):
        store.apply([alert(f"web-{n}")], T0 + n, record(n, body="x" * 1000))
    store.record_callbacks([replace(record(n, "invalid"), body="y" * 1000) for n in range(100, 140)])
    assert len(listed(store, outcome="accepted")) == 8
    assert len(listed(store, outcome="refused")) <= 2
    assert store.journal_size()[1] <= one * 10


def test_journal_size_zero_keeps_nothing(make_store: StoreFactory) -> None:
    store = make_store(journal=JournalCaps(max_callbacks=0))
    assert store.apply([alert()], T0, record(1)) == ["changed"]
    store.record_callbacks([record(2, "invalid")])
    assert listed(store) == []


def test_a_target_keeps_its_last_error_and_the_lease_its_holder(make_store: StoreFactory) -> None:
    store = make_store()
    store.register_targets(["am"])
    assert store.target_errors(["am"]) == {"am": ("", None)}
    store.record_failure("am", T0, "HTTP 500: boom")
    assert make_store().target_errors(["am"]) == {"am": ("HTTP 500: boom", T0)}
    assert store.lease_holder("delivery", T0) is None
    assert store.acquire_lease("delivery", "host-a:8080", 15, T0)
    owner, until = make_store().lease_holder("delivery", T0)
    assert owner == "host-a:8080"
    assert until > T0


def test_rejections_are_remembered_per_target_newest_first_within_a_bound(make_store: StoreFactory) -> None:
    store = make_store()
    store.record_rejections("am", [("fp-1", 3, "HTTP 400: invalid label set")], T0)
    assert make_store().rejections(["am", "other"]) == {"am": {"fp-1": (3, "HTTP 400: invalid label set", T0)},
                                                       "other": {}}
    store.record_rejections("am", [("fp-1", 4, "HTTP 422: again\nwith a newline")], T0 + 1)
    assert store.rejections(["am"])["am"]["fp-1"] == (4, "HTTP 422: again\nwith a newline", T0 + 1)
    store.record_rejections("am", [(f"fp-{n}", n, "x") for n in range(2, REJECTIONS_KEPT + 3)], T0 + 2)
    kept = store.rejections(["am"])["am"]
    assert len(kept) == REJECTIONS_KEPT
