"""The delivery thread outlives store outages and its own bugs: a dead one would drop alerts silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from bridge import deliver
from bridge.deliver import Deliverer
from bridge.settings import AlertmanagerTarget, Settings
from bridge.store import StoreError
from bridge.store.sqlite import SqliteStore
from tests.harness.delivery import TARGET, AnswerResolver, RecordingClient, alert, hosts
from tests.harness.processes import wait_for


class FlakyStore(SqliteStore):
    """Down when the bridge starts, and then one housekeeping call hits a bug."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.registrations = self.expiries = 0

    def register_targets(self, targets: Sequence[str]) -> None:
        self.registrations += 1
        if self.registrations == 1:
            raise StoreError("connection refused")
        super().register_targets(targets)

    def expire(self, now: float, max_firing_age: float) -> int:
        self.expiries += 1
        if self.expiries == 1:
            raise RuntimeError("a bug")
        return super().expire(now, max_firing_age)


def test_delivery_survives_a_store_down_at_start_and_a_bug_in_housekeeping(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliver, "HOUSEKEEPING_EVERY", 0.05)
    store = FlakyStore(tmp_path / "bridge.db")
    client = RecordingClient()
    deliverer = Deliverer(store, Settings(alertmanagers=(TARGET,), lease_ttl=0.3),
                          client=lambda target, metrics: client)  # type: ignore[arg-type,return-value]
    thread = threading.Thread(target=deliverer.run)
    thread.start()
    try:
        wait_for(lambda: store.expiries >= 2, message="housekeeping retried after the bug")
        store.apply([alert("after-the-outage", time.time())], time.time())
        wait_for(lambda: any("after-the-outage" in hosts(p) for p in client.posts), message="the change delivered")
        assert thread.is_alive()
    finally:
        deliverer.stop(5)
        thread.join(5)


def test_replicas_found_by_dns_come_and_go_and_a_retired_one_is_not_a_dead_thread(tmp_path: Path) -> None:
    # The supervisor exits the bridge when a delivery thread dies: a thread ended because DNS no
    # longer names its Alertmanager must not count as one.
    store = SqliteStore(tmp_path / "bridge.db")
    clients: dict[str, RecordingClient] = {}

    def client(target, metrics) -> RecordingClient:
        return clients.setdefault(target.name, RecordingClient())

    settings = Settings(alertmanagers=(AlertmanagerTarget("dns+http://am.test:9093"),), lease_ttl=0.3,
                        alertmanager_refresh_interval=0.05)
    deliverer = Deliverer(store, settings, client=client)  # type: ignore[arg-type]
    resolver = AnswerResolver(**{"am.test": ["10.0.0.1", "10.0.0.2"]})
    deliverer.target_set.resolver = resolver  # type: ignore[assignment]
    thread = threading.Thread(target=deliverer.run)
    thread.start()
    try:
        wait_for(lambda: deliverer.targets == ["http://10.0.0.1:9093", "http://10.0.0.2:9093"], message="two targets")
        store.apply([alert("both", time.time())], time.time())
        wait_for(lambda: all(any("both" in hosts(p) for p in clients[n].posts) for n in deliverer.targets),
                 message="each replica gets the alert")
        resolver.answer["am.test"] = ["10.0.0.2"]
        wait_for(lambda: deliverer.targets == ["http://10.0.0.2:9093"], message="10.0.0.1 retired")
        wait_for(lambda: not any(loop.is_alive() for loop in deliverer.retired), message="its thread ended")
        assert deliverer.dead_threads() == []
        store.apply([alert("after", time.time())], time.time())
        wait_for(lambda: any("after" in hosts(p) for p in clients["http://10.0.0.2:9093"].posts),
                 message="the remaining replica gets the next alert")
        assert not any("after" in hosts(p) for p in clients["http://10.0.0.1:9093"].posts)
    finally:
        deliverer.stop(5)
        thread.join(5)
