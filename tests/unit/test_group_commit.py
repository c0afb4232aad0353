"""GroupCommit: callbacks that arrive together share one transaction, and each gets its own answer."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.model import AlarmState, Alert
from bridge.store import Outcome, StoreError, StoreFull
from bridge.store.sqlite import GroupCommit, PendingApply


def alert(host: str) -> Alert:
    return Alert(labels={"alertname": "CPUHigh", "host": host}, annotations={}, state=AlarmState.FIRING,
                 starts_at=1.0, event_at=1.0)


def run_together(group: GroupCommit, hosts: list[str]) -> dict[str, object]:
    start = threading.Barrier(len(hosts))
    results: dict[str, object] = {}

    def call(host: str) -> None:
        start.wait()
        try:
            results[host] = group.apply([alert(host)], 1.0)
        except Exception as exc:  # the test looks at what each caller got
            results[host] = exc

    threads = [threading.Thread(target=call, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_callers_share_transactions_and_each_gets_its_own_outcome() -> None:
    transactions: list[list[str]] = []

    def commit(batch: list[PendingApply]) -> None:
        time.sleep(0.02)  # the disk's wait, which the group shares
        transactions.append([p.alerts[0].labels["host"] for p in batch])
        for pending in batch:
            if pending.alerts[0].labels["host"] == "full":
                pending.error = StoreFull("full")
            else:
                pending.outcomes = [Outcome.CHANGED]

    hosts = [f"h{i}" for i in range(20)] + ["full"]
    results = run_together(GroupCommit(commit), hosts)
    assert len(transactions) <= 3  # one, plus whoever arrived during it
    assert sorted(h for t in transactions for h in t) == sorted(hosts)  # each change committed once
    assert isinstance(results.pop("full"), StoreFull)
    assert all(r == [Outcome.CHANGED] for r in results.values())


def test_a_transaction_that_fails_fails_every_caller_in_it() -> None:
    def commit(batch: list[PendingApply]) -> None:
        for pending in batch:
            pending.outcomes = [Outcome.CHANGED]  # applied, but the commit itself fails
        raise StoreError("disk I/O error")

    results = run_together(GroupCommit(commit), ["a", "b", "c"])
    assert all(isinstance(r, StoreError) for r in results.values())


def test_a_lone_caller_commits_at_once() -> None:
    group = GroupCommit(lambda batch: setattr(batch[0], "outcomes", [Outcome.UNCHANGED]))
    assert group.apply([alert("a")], 1.0) == [Outcome.UNCHANGED]
    with pytest.raises(StoreError):
        GroupCommit(lambda batch: setattr(batch[0], "error", StoreError("x"))).apply([alert("a")], 1.0)
