"""The delivery thread outlives store outages and its own bugs: a dead one would drop alerts silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from bridge import deliver
from bridge.deliver import Deliverer
from bridge.settings import Settings
from bridge.store import StoreError
from bridge.store.sqlite import SqliteStore
from tests.harness.delivery import TARGET, RecordingClient, alert, hosts
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
