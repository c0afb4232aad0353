"""The store contract: what every backend (SQLite, Redis, and the next one) must do, tested on each.

The delivery guarantees rest on it: an acknowledged callback is in the store, retries and repeats
are harmless, a late retry cannot undo a recovery, every target's cursor sees every change once and
in order, and only one replica at a time holds the delivery lease.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.model import AlarmState, Alert
from bridge.store import Outcome, Store, StoredAlert, StoreError, StoreFull
from bridge.store.redis import RedisStore
from tests.harness.processes import free_port
from tests.harness.stores import StoreFactory, corrupt_sqlite

T0 = 1_700_000_000.123456
NOW = T0 + 30
CHANGED, UNCHANGED, STALE = Outcome.CHANGED, Outcome.UNCHANGED, Outcome.STALE


def alert(state: str = "firing", *, host: str = "web-1", severity: str = "warning", event: float = T0,
          starts: float | None = None, ends: float | None = None, expires: float | None = None,
          vendor: str = "tencent", summary: str = "cpu high", **annotations: str) -> Alert:
    labels = {"alertname": "CPUHigh", "vendor": vendor, "host": host, "severity": severity}
    return Alert(labels=labels, annotations={"summary": summary, **annotations}, state=AlarmState(state),
                 starts_at=event - 60 if starts is None else starts, event_at=event, ends_at=ends,
                 generator_url=f"https://console.example/{host}", expires_at=expires)


def everything(store: Store, now: float = NOW) -> dict[str, StoredAlert]:
    """Every alert the store holds, resolved ones included, by fingerprint."""
    return {s.fingerprint: s for s in store.active("", 10_000, now, resolved_for=1e12)}


def get(store: Store, item: Alert) -> Alert:
    return everything(store)[item.fingerprint].alert


def queued(store: Store, target: str = "am") -> list[tuple[str, AlarmState]]:
    return [(s.alert.labels["severity"], s.alert.state) for s in store.changes(target, 1000)]


# --- apply: fire, resolve, retries and repeats ----------------------------------------------------
def test_it_fires_a_new_alert_once_and_treats_retries_as_unchanged(store: Store) -> None:
    store.register_targets(["am"])
    assert store.apply([alert()], NOW) == [CHANGED]
    assert store.apply([alert()], NOW + 1) == [UNCHANGED]
    assert store.apply([alert(event=T0 + 60)], NOW + 60) == [UNCHANGED]  # a repeat notification
    stored = get(store, alert())
    assert (stored.state, stored.starts_at, stored.event_at, stored.ends_at) == (
        AlarmState.FIRING, T0 - 60, T0 + 60, None)
    assert len(store.changes("am", 100)) == 1


def test_it_keeps_the_earliest_start_and_queues_changed_annotations(store: Store) -> None:
    store.apply([alert()], NOW)
    assert store.apply([alert(event=T0 + 60, starts=T0, summary="cpu higher")], NOW) == [CHANGED]
    stored = get(store, alert())
    assert (stored.starts_at, stored.annotations["summary"]) == (T0 - 60, "cpu higher")


def test_a_recovery_resolves_once_and_its_retries_are_unchanged(store: Store) -> None:
    store.apply([alert(description="was firing")], NOW)
    recovery = alert("resolved", event=T0 + 120, ends=T0 + 110, summary="recovered")
    assert store.apply([recovery], NOW + 120) == [CHANGED]
    assert store.apply([recovery], NOW + 121) == [UNCHANGED]
    stored = get(store, alert())
    assert (stored.state, stored.ends_at, stored.event_at) == (AlarmState.RESOLVED, T0 + 110, T0 + 120)
    assert stored.annotations == {"summary": "recovered", "description": "was firing"}  # merged, newest wins


def test_a_late_firing_retry_after_the_recovery_is_stale(store: Store) -> None:
    store.apply([alert()], NOW)
    store.apply([alert("resolved", event=T0 + 120)], NOW + 120)
    assert store.apply([alert(event=T0)], NOW + 130) == [STALE]
    assert store.apply([alert(event=T0 + 120)], NOW + 130) == [STALE]  # same instant: the recovery wins
    assert get(store, alert()).state is AlarmState.RESOLVED


def test_a_firing_older_than_what_the_store_knows_is_stale(store: Store) -> None:
    store.apply([alert(event=T0 + 60)], NOW)
    assert store.apply([alert(event=T0)], NOW) == [STALE]


def test_a_recovery_older_than_the_firing_is_stale(store: Store) -> None:
    store.apply([alert(event=T0 + 60)], NOW)
    assert store.apply([alert("resolved", event=T0)], NOW) == [STALE]
    assert get(store, alert()).state is AlarmState.FIRING


def test_a_new_occurrence_after_the_recovery_fires_again_with_its_own_start(store: Store) -> None:
    store.apply([alert()], NOW)
    store.apply([alert("resolved", event=T0 + 120)], NOW + 120)
    again = alert(event=T0 + 600, starts=T0 + 590)
    assert store.apply([again], NOW + 600) == [CHANGED]
    stored = get(store, again)
    assert (stored.state, stored.starts_at, stored.ends_at) == (AlarmState.FIRING, T0 + 590, None)


def test_a_recovery_never_seen_firing_is_recorded_so_a_late_firing_cannot_fire(store: Store) -> None:
    assert store.apply([alert("resolved", event=T0 + 120, ends=T0 + 100)], NOW + 120) == [CHANGED]
    assert store.apply([alert(event=T0)], NOW + 130) == [STALE]
    assert get(store, alert()).state is AlarmState.RESOLVED


def test_a_level_change_resolves_the_other_severity_of_the_same_object(store: Store) -> None:
    store.register_targets(["am"])
    store.apply([alert(severity="warning")], NOW)
    assert store.apply([alert(severity="critical", event=T0 + 60)], NOW + 60) == [CHANGED]
    warning, critical = get(store, alert(severity="warning")), get(store, alert(severity="critical"))
    assert (warning.state, warning.ends_at) == (AlarmState.RESOLVED, T0 + 60)
    assert critical.state is AlarmState.FIRING
    assert queued(store) == [("warning", AlarmState.RESOLVED), ("critical", AlarmState.FIRING)]
    assert store.apply([alert(severity="warning", event=T0 + 30)], NOW + 61) == [STALE]  # late retry of old level


def test_a_recovery_resolves_whichever_severity_fires(store: Store) -> None:
    store.apply([alert(severity="warning")], NOW)
    store.apply([alert(severity="critical", event=T0 + 60)], NOW)
    assert store.apply([alert("resolved", severity="warning", event=T0 + 120)], NOW + 120) == [CHANGED]
    assert get(store, alert(severity="critical")).state is AlarmState.RESOLVED
    assert {s.alert.state for s in everything(store).values()} == {AlarmState.RESOLVED}


def test_a_recovery_of_an_already_resolved_object_is_unchanged_and_moves_its_clock(store: Store) -> None:
    store.apply([alert()], NOW)
    store.apply([alert("resolved", event=T0 + 120)], NOW)
    assert store.apply([alert("resolved", event=T0 + 300)], NOW) == [UNCHANGED]
    assert store.apply([alert(event=T0 + 200)], NOW) == [STALE]


# --- what relabeling rules need: a vendor-side identity, drops, merged label sets -------------------
def test_a_recovery_finds_its_alert_by_the_vendor_side_key_whatever_the_labels(store: Store) -> None:
    old = replace(alert(), source_key="vendor-object-1")
    store.apply([old], NOW)
    relabeled = replace(alert("resolved", event=T0 + 60, host="renamed-by-a-rule"), source_key="vendor-object-1")
    assert store.apply([relabeled], NOW + 60) == [CHANGED]
    assert get(store, old).state is AlarmState.RESOLVED
    assert relabeled.fingerprint not in everything(store)


def test_an_alert_stored_under_its_former_key_is_still_its_objects(store: Store) -> None:
    """An older version keyed this object on every label; the alert now also names that key (former_key),
    so what a recovery or a new variant finds includes what was stored before the upgrade."""
    old = replace(alert(), source_key="key-of-every-label")
    store.apply([old], NOW)
    renamed = replace(alert(event=T0 + 30, host="renamed"), source_key="key-of-ids", former_key="key-of-every-label")
    assert store.apply([renamed], NOW + 30) == [CHANGED]
    assert (get(store, old).state, get(store, renamed).state) == (AlarmState.RESOLVED, AlarmState.FIRING)
    recovery = replace(alert("resolved", event=T0 + 60, host="other"), source_key="key-of-ids",
                       former_key="key-of-every-label")
    assert store.apply([recovery], NOW + 60) == [CHANGED]
    assert {s.alert.state for s in everything(store).values()} == {AlarmState.RESOLVED}
    assert recovery.fingerprint not in everything(store)


def test_a_dropped_alarm_ends_what_fires_but_never_adds_an_alert(store: Store) -> None:
    store.register_targets(["am"])
    dropped = replace(alert(event=T0 + 60, severity="critical"), resolve_only=True)
    assert store.apply([dropped], NOW) == [UNCHANGED]
    assert everything(store) == {} and store.changes("am", 10) == []
    store.apply([alert()], NOW)
    assert store.apply([dropped], NOW + 60) == [CHANGED]
    assert get(store, alert()).state is AlarmState.RESOLVED
    assert dropped.fingerprint not in everything(store)


def test_two_objects_merged_into_one_label_set_share_one_alert(make_store: StoreFactory) -> None:
    store = make_store(max_alerts=1)
    first = replace(alert(), source_key="object-a")
    second = replace(alert(event=T0 + 10), source_key="object-b")
    assert store.apply([first], NOW) == [CHANGED]
    assert store.apply([second], NOW) in ([CHANGED], [UNCHANGED])  # same labels: no second row, not full
    assert len(everything(store)) == 1


def test_one_callback_applies_in_order(store: Store) -> None:
    assert store.apply([alert(), alert("resolved", event=T0 + 1), alert(host="web-2")], NOW) == [
        CHANGED, CHANGED, CHANGED]
    assert get(store, alert()).state is AlarmState.RESOLVED


def test_times_round_trip_exactly(store: Store) -> None:
    odd = alert(event=0.1 + 0.2 + T0, starts=T0 / 3, expires=T0 + 1 / 7)
    store.apply([odd], T0 + 1 / 3)
    stored = everything(store)[odd.fingerprint]
    assert (stored.alert.event_at, stored.alert.starts_at, stored.alert.expires_at, stored.changed_at) == (
        odd.event_at, odd.starts_at, odd.expires_at, T0 + 1 / 3)


def test_labels_and_annotations_round_trip_whatever_their_characters(store: Store) -> None:
    odd = alert(host="主机-1 \"quoted\" \\ / \n", summary="CPU 使用率 > 90% \t ✓")
    store.apply([odd], NOW)
    stored = everything(store)[odd.fingerprint].alert
    assert (stored.labels, stored.annotations) == (odd.labels, odd.annotations)
    resolved = alert("resolved", host=odd.labels["host"], event=T0 + 1, summary="恢复")
    store.apply([resolved], NOW)
    assert everything(store)[odd.fingerprint].alert.annotations["summary"] == "恢复"


# --- capacity -------------------------------------------------------------------------------------
def test_it_refuses_new_alerts_at_max_alerts_and_applies_nothing_of_that_callback(make_store: StoreFactory) -> None:
    store = make_store(max_alerts=2)
    store.register_targets(["am"])
    store.apply([alert(host="a"), alert(host="b")], NOW)
    with pytest.raises(StoreFull):
        store.apply([alert("resolved", host="a", event=T0 + 1), alert(host="c")], NOW)
    assert get(store, alert(host="a")).state is AlarmState.FIRING  # the whole callback was refused
    assert store.apply([alert("resolved", host="a", event=T0 + 1)], NOW) == [CHANGED]  # updates still fit
    assert store.stats(["am"], NOW).total == 2
    assert len(store.changes("am", 100)) == 2


def test_callbacks_arriving_together_at_the_limit_are_each_accepted_or_refused_whole(
        make_store: StoreFactory) -> None:
    """Concurrent callbacks may share a transaction (SQLite): a refused one must not take the others along."""
    store = make_store(max_alerts=5)
    store.register_targets(["am"])
    start = threading.Barrier(12)
    results: dict[int, object] = {}

    def send(index: int) -> None:
        start.wait()
        try:
            results[index] = store.apply([alert(host=f"h{index}"), alert(host=f"h{index}-b")], NOW)
        except StoreFull as exc:
            results[index] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [i for i, r in results.items() if r == [CHANGED, CHANGED]]
    assert len(accepted) == 2 and len(results) == 12  # 2 callbacks x 2 alerts fit in 5; a third would not
    assert all(isinstance(r, StoreFull) for i, r in results.items() if i not in accepted)
    assert sorted(s.alert.labels["host"] for s in store.changes("am", 100)) == sorted(
        host for i in accepted for host in (f"h{i}", f"h{i}-b"))


def test_resolved_alerts_make_room_for_new_ones_delivered_first_then_oldest(make_store: StoreFactory) -> None:
    """Issue 19 item 4: resolved alerts (an attacker's, or a dead Alertmanager's backlog) never lock real
    alarms out for the 24 h they are kept."""
    store = make_store(max_alerts=3)
    store.register_targets(["am", "dead"])
    store.apply([alert(host="a"), alert(host="b"), alert(host="c")], NOW)
    store.apply([alert("resolved", host="b", event=T0 + 5, ends=T0 + 5)], NOW)
    for target in ("am", "dead"):
        store.advance(target, store.changes(target, 10)[-1].seq, NOW)  # b's resolution reached everyone
    store.apply([alert("resolved", host="a", event=T0 + 2, ends=T0 + 2)], NOW)  # older, but undelivered
    assert store.apply([alert(host="d")], NOW) == [CHANGED]
    assert sorted(s.alert.labels["host"] for s in everything(store).values()) == ["a", "c", "d"]
    assert store.apply([alert(host="a", event=T0)], NOW) == [STALE]  # its own object is never evicted for it
    assert store.apply([alert(host="e")], NOW) == [CHANGED]
    assert sorted(s.alert.labels["host"] for s in everything(store).values()) == ["c", "d", "e"]
    with pytest.raises(StoreFull):  # firing alerts are never evicted
        store.apply([alert(host="f")], NOW)
    assert store.stats([], NOW).total == 3


@pytest.mark.parametrize("caps", [{"max_alerts": 3}, {"max_bytes": 1200}], ids=["max_alerts", "max_bytes"])
def test_at_the_cap_a_repeated_callback_of_stored_alerts_evicts_nothing(
        make_store: StoreFactory, caps: dict[str, int]) -> None:
    """Only fingerprints not yet stored take a row, and only growth takes bytes: vendors repeat a firing
    alarm every few minutes, and each repeat must not evict a resolved alert (issue 19, review of item 4)."""
    store = make_store(**caps)
    store.apply([alert(host="a"), alert(host="b"), alert(host="c")], NOW)
    store.apply([alert("resolved", host="c", event=T0 + 1, ends=T0 + 1)], NOW)
    if "max_bytes" in caps:  # fill the bytes near the cap with a resolved alert of another object
        store.apply([alert(host="d", description="x" * 500)], NOW)
        store.apply([alert("resolved", host="d", event=T0 + 1, ends=T0 + 1)], NOW)
        assert caps["max_bytes"] - 200 < store.stats([], NOW).bytes <= caps["max_bytes"]
    before = sorted(everything(store))
    for repeat in range(1, 4):
        assert store.apply([alert(host="a", event=T0 + 60 * repeat), alert(host="b", event=T0 + 60 * repeat)],
                           NOW + 60 * repeat) == [UNCHANGED, UNCHANGED]
    assert sorted(everything(store)) == before


def test_a_recovery_of_an_unknown_object_takes_no_room_from_a_full_store(make_store: StoreFactory) -> None:
    store = make_store(max_alerts=1)
    store.apply([alert(host="a")], NOW)
    assert store.apply([alert("resolved", host="never-seen")], NOW) == [UNCHANGED]  # acknowledged, not kept
    assert list(everything(store)) == [alert(host="a").fingerprint]


def test_the_store_caps_bytes_as_well_as_alerts_and_counts_them_exactly(make_store: StoreFactory) -> None:
    store = make_store(max_bytes=1000)
    store.register_targets(["am"])
    accepted = []
    with pytest.raises(StoreFull, match="1000 bytes"):
        for i in range(20):
            store.apply([alert(host=f"h{i}", description="x" * 100)], NOW)
            accepted.append(i)
    assert 2 <= len(accepted) < 20
    assert 0 < store.stats([], NOW).bytes <= 1000
    store.apply([alert("resolved", host="h0", event=T0 + 1, note="y" * 50)], NOW)  # a recovery always lands
    assert store.apply([alert(host="zz", description="x" * 100)], NOW) == [CHANGED]  # h0 was evicted
    assert store.stats([], NOW).bytes <= 1000
    fingerprints, taken = list(everything(store)), store.stats([], NOW).bytes
    assert store.delete([*fingerprints, "not-there"]) == (len(fingerprints), taken)
    assert store.stats([], NOW).bytes == 0 and store.stats([], NOW).total == 0


# --- delivery: cursors ----------------------------------------------------------------------------
def test_a_new_target_starts_at_the_current_sequence(store: Store) -> None:
    store.apply([alert(host="before")], NOW)
    store.register_targets(["am"])
    assert store.changes("am", 10) == []
    store.apply([alert(host="after")], NOW)
    assert [s.alert.labels["host"] for s in store.changes("am", 10)] == ["after"]
    store.register_targets(["am"])  # registering again keeps the cursor
    assert len(store.changes("am", 10)) == 1
    assert store.changes("unknown", 10) == []


def test_changes_come_in_sequence_order_and_a_changed_alert_moves_to_the_end(store: Store) -> None:
    store.register_targets(["am", "other"])
    for host in ("a", "b", "c"):
        store.apply([alert(host=host)], NOW)
    store.apply([alert("resolved", host="a", event=T0 + 1)], NOW)
    changes = store.changes("am", 10)
    assert [(s.alert.labels["host"], s.alert.state.value) for s in changes] == [
        ("b", "firing"), ("c", "firing"), ("a", "resolved")]
    assert [s.seq for s in changes] == sorted(s.seq for s in changes)
    assert [s.alert.labels["host"] for s in store.changes("am", 2)] == ["b", "c"]


def test_advance_moves_one_cursor_forward_only(store: Store) -> None:
    store.register_targets(["am", "other"])
    for host in ("a", "b", "c"):
        store.apply([alert(host=host)], NOW)
    first, second, _ = store.changes("am", 10)
    store.advance("am", second.seq, NOW)
    assert [s.alert.labels["host"] for s in store.changes("am", 10)] == ["c"]
    store.advance("am", first.seq, NOW)  # a late, lower advance (a sweep passes 0) never goes back
    store.advance("am", 0, NOW)
    assert [s.alert.labels["host"] for s in store.changes("am", 10)] == ["c"]
    assert len(store.changes("other", 10)) == 3


def test_concurrent_writers_never_let_a_cursor_skip_a_change(make_store: StoreFactory) -> None:
    """Two handles (two replicas) write while a third delivers: every alert reaches the cursor."""
    reader = make_store()
    reader.register_targets(["am"])
    writers = [make_store(), make_store()]
    delivered: set[str] = set()
    done = threading.Event()

    def write(index: int) -> None:
        for n in range(40):
            writers[index].apply([alert(host=f"w{index}-{n}"), alert(host=f"w{index}-{n}-x")], time.time())

    def deliver() -> None:
        while True:
            finished = done.is_set()
            batch = reader.changes("am", 7)
            delivered.update(s.alert.labels["host"] for s in batch)
            if batch:
                reader.advance("am", batch[-1].seq, time.time())
            elif finished:
                return

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    consumer = threading.Thread(target=deliver)
    for thread in [*threads, consumer]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    consumer.join()
    assert len(delivered) == 160


# --- delivery: re-sends ---------------------------------------------------------------------------
def test_active_pages_by_fingerprint_through_firing_and_recently_resolved_alerts(store: Store) -> None:
    firing = [alert(host=f"f{i}") for i in range(5)]
    recent = alert("resolved", host="recent", event=T0, starts=T0 - 2000, ends=NOW - 100)
    old = alert("resolved", host="old", event=T0, starts=T0 - 2000, ends=NOW - 1000)
    store.apply([*firing, recent, old], NOW)
    pages, after = [], ""
    while page := store.active(after, 2, NOW, resolved_for=500):
        pages.append(page)
        after = page[-1].fingerprint
    listed = [s.fingerprint for page in pages for s in page]
    assert [len(page) for page in pages] == [2, 2, 2]
    assert listed == sorted(a.fingerprint for a in [*firing, recent])
    later = store.active("", 10, NOW + 1000, resolved_for=500)  # "recent" has left the window
    assert [s.fingerprint for s in later] == sorted(a.fingerprint for a in firing)


def test_active_pages_through_more_recently_resolved_alerts_than_fit_a_page(store: Store) -> None:
    """After a mass recovery, each re-send page is a page, not every alert resolved in the window."""
    firing = [alert(host=f"f{i}") for i in range(4)]
    recent = [alert("resolved", host=f"r{i}", starts=T0 - 100, ends=NOW - 10) for i in range(10)]
    old = [alert("resolved", host=f"old{i}", starts=T0 - 2000, ends=NOW - 1000) for i in range(5)]
    store.apply([*firing, *recent, *old], NOW)
    pages, after = [], ""
    while page := store.active(after, 3, NOW, resolved_for=500):
        pages.append(page)
        after = page[-1].fingerprint
    assert [len(page) for page in pages] == [3, 3, 3, 3, 2]
    assert [s.fingerprint for page in pages for s in page] == sorted(a.fingerprint for a in [*firing, *recent])


# --- housekeeping ---------------------------------------------------------------------------------
def test_expire_resolves_events_past_their_expiry(store: Store) -> None:
    store.register_targets(["am"])
    store.apply([alert(host="event", expires=NOW + 60), alert(host="metric")], NOW)
    assert store.expire(NOW + 59, max_firing_age=0) == 0
    assert store.expire(NOW + 60, max_firing_age=0) == 1
    expired = get(store, alert(host="event"))
    assert (expired.state, expired.ends_at, expired.expires_at) == (AlarmState.RESOLVED, NOW + 60, None)
    assert "no recovery" in expired.annotations["resolved_reason"]
    assert expired.annotations["summary"] == "cpu high"
    assert get(store, alert(host="metric")).state is AlarmState.FIRING
    assert store.changes("am", 10)[-1].alert.labels["host"] == "event"
    assert store.expire(NOW + 61, max_firing_age=0) == 0


def test_expire_resolves_alerts_the_vendor_has_not_mentioned_for_the_maximum_firing_age(store: Store) -> None:
    store.apply([alert(host="silent", event=T0 - 3600), alert(host="repeated", event=T0 - 3600)], NOW)
    assert store.apply([alert(host="repeated", event=T0 - 10)], NOW) == [UNCHANGED]  # a repeat: still there
    assert store.expire(T0, max_firing_age=3600) == 1
    silent = get(store, alert(host="silent"))
    assert (silent.state, silent.ends_at) == (AlarmState.RESOLVED, T0)
    assert silent.annotations["resolved_reason"].endswith("no word from the vendor for the maximum firing age of 3600s")
    assert get(store, alert(host="repeated")).state is AlarmState.FIRING
    assert store.expire(T0 + 3590, max_firing_age=3600) == 1


def test_a_repeat_that_drops_the_expiry_keeps_the_alert_from_expiring(store: Store) -> None:
    store.apply([alert(expires=NOW + 10)], NOW)
    assert store.apply([alert(event=T0 + 1)], NOW) == [UNCHANGED]
    assert store.expire(NOW + 20, max_firing_age=0) == 0


def test_forget_deletes_long_resolved_alerts_whatever_the_cursors(store: Store) -> None:
    store.register_targets(["am", "dead"])
    store.apply([alert(host="firing"), alert("resolved", host="done"), alert("resolved", host="late")], NOW)
    store.apply([alert("resolved", host="fresh")], NOW + 500)
    store.advance("am", store.changes("am", 10)[-1].seq, NOW)
    assert store.forget(NOW + 1000, 600) == 2  # "dead" never received them: it has expired them itself
    assert {s.alert.labels["host"] for s in everything(store, NOW + 1000).values()} == {"firing", "fresh"}
    assert store.stats(["am"], NOW).total == 2
    assert [s.alert.labels["host"] for s in store.changes("dead", 10)] == ["firing", "fresh"]  # gaps skipped
    assert store.forget(NOW + 1000, 600) == 0
    assert store.forget(NOW + 10**6, 600) == 1
    assert store.stats(["am", "dead"], NOW).total == 1


# --- the delivery lease ---------------------------------------------------------------------------
def test_a_lease_is_held_by_one_owner_until_it_expires(make_store: StoreFactory) -> None:
    one, two = make_store(), make_store()
    assert one.acquire_lease("delivery", "replica-a", 0.5, time.time())
    assert not two.acquire_lease("delivery", "replica-b", 0.5, time.time())
    assert one.acquire_lease("delivery", "replica-a", 0.5, time.time())  # renewal
    assert two.acquire_lease("other", "replica-b", 0.5, time.time())  # leases are named
    time.sleep(0.3)
    assert one.acquire_lease("delivery", "replica-a", 0.5, time.time())  # renewed: still 0.5 s from now
    time.sleep(0.3)
    assert not two.acquire_lease("delivery", "replica-b", 0.5, time.time())
    time.sleep(0.6)
    assert two.acquire_lease("delivery", "replica-b", 0.5, time.time())  # expired: taken over
    assert not one.acquire_lease("delivery", "replica-a", 0.5, time.time())


def test_only_the_holder_can_release_a_lease(make_store: StoreFactory) -> None:
    one, two = make_store(), make_store()
    assert one.acquire_lease("delivery", "replica-a", 60, time.time())
    two.release_lease("delivery", "replica-b")
    assert not two.acquire_lease("delivery", "replica-b", 60, time.time())
    one.release_lease("delivery", "replica-a")
    assert two.acquire_lease("delivery", "replica-b", 60, time.time())  # at once, no expiry to wait out


# --- metrics --------------------------------------------------------------------------------------
def test_stats_count_alerts_and_each_targets_backlog(store: Store) -> None:
    store.register_targets(["am", "other"])
    store.apply([alert(host="a"), alert(host="b", vendor="aliyun")], NOW)
    store.apply([alert("resolved", host="a", event=T0 + 1)], NOW + 5)
    stats = store.stats(["am", "other", "unregistered"], NOW + 10)
    assert stats.alerts_by_vendor_state == {("tencent", "resolved"): 1, ("aliyun", "firing"): 1}
    assert stats.total == 2
    assert set(stats.targets) == {"am", "other"}
    assert stats.targets["am"].backlog == 2
    assert stats.targets["am"].oldest_change_at == NOW
    assert (stats.targets["am"].last_success_at, stats.targets["am"].up) == (None, None)
    changes = store.changes("am", 10)
    store.advance("am", changes[0].seq, NOW + 20)
    store.record_failure("other", NOW + 20)
    stats = store.stats(["am", "other"], NOW + 30)
    assert (stats.targets["am"].backlog, stats.targets["am"].oldest_change_at) == (1, NOW + 5)
    assert (stats.targets["am"].last_success_at, stats.targets["am"].up) == (NOW + 20, True)
    assert (stats.targets["other"].backlog, stats.targets["other"].up) == (2, False)
    store.advance("am", changes[-1].seq, NOW + 40)
    assert store.stats(["am"], NOW).targets["am"] == type(stats.targets["am"])(0, None, NOW + 40, True)


def test_ping_answers_when_the_store_is_usable_and_raises_a_store_error_when_not(
        store: Store, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """/-/ready says 503 from this: a ping that does nothing would keep a broken replica in the Service."""
    assert store.ping() is None
    if request.node.callspec.params["make_store"] == "sqlite":
        corrupt_sqlite(tmp_path / "bridge.db")  # the same handle: its open connection must notice
        broken = store
    else:
        broken = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(StoreError):
        broken.ping()
