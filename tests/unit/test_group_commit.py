"""GroupCommit: callbacks that arrive together share one transaction, and each gets its own answer."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from bridge.model import AlarmState, Alert
from bridge.store import Outcome, StoreError, StoreFull
from bridge.store import sqlite as sqlite_store
from bridge.store.group_commit import GroupCommit, PendingApply
from bridge.store.sqlite import SqliteStore


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


def test_a_wedged_writer_costs_a_store_error_not_a_hung_thread(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the writer lock and never lets go (stopped, or stuck on a dead disk)."""
    monkeypatch.setattr(sqlite_store, "WRITER_LOCK_TIMEOUT", 0.3)
    store = SqliteStore(tmp_path / "bridge.db")
    wedged = os.open(tmp_path / "bridge.db-writer.lock", os.O_RDWR | os.O_CREAT)  # its own open file: its own lock
    fcntl.flock(wedged, fcntl.LOCK_EX)
    started = time.monotonic()
    with pytest.raises(StoreError, match="another writer"):
        store.apply([alert("a")], 1.0)
    assert time.monotonic() - started < 2
    os.close(wedged)
    assert store.apply([alert("a")], 1.0) == [Outcome.CHANGED]  # and it writes again once released
