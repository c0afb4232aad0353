"""Delivery when things fail, at the fast layer: an Alertmanager down, one that rejects an alert, a store down.

On a real SQLite store with a client that records POSTs and fails on demand; the e2e tests cover the same
against a real Alertmanager, but a regression here must fail in seconds, not only in the slow layer.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.deliver.alertmanager import SendError
from bridge.deliver.lease import Lease
from bridge.deliver.target import TargetLoop
from bridge.model import AlarmState, Alert
from bridge.settings import Settings
from bridge.store import StoredAlert, StoreError
from bridge.store.sqlite import SqliteStore
from tests.harness.delivery import TARGET, RecordingClient, alert, hosts
from tests.harness.processes import wait_for


class FailingClient(RecordingClient):
    """Raises a retryable SendError while ``down``; answers ``rejected`` hosts as Alertmanager's 400 would."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.rejected: set[str] = set()

    def send(self, alerts: list[dict[str, Any]], offset: int = 0, deadline: float | None = None) -> list[int]:
        if self.down:
            raise SendError("ConnectionError: connection refused", permanent=False)
        super().send(alerts, offset, deadline)
        return [i for i, a in enumerate(alerts) if a["labels"]["host"] in self.rejected]


def make_loop(tmp_path: Path, store: SqliteStore | None = None) -> tuple[TargetLoop, SqliteStore, FailingClient]:
    store = store or SqliteStore(tmp_path / "bridge.db")
    store.register_targets([TARGET.name])
    lease = Lease(store, "127.0.0.1:8080", ttl=3600)
    assert lease.renew(time.time())
    target_loop = TargetLoop(store, TARGET, Settings(batch_size=10, resend_interval=60), lease, threading.Event())
    client = FailingClient()
    target_loop.client = client  # type: ignore[assignment]
    return target_loop, store, client


def backlog(store: SqliteStore) -> int:
    return store.stats([TARGET.name], time.time()).targets[TARGET.name].backlog


def steps(target_loop: TargetLoop, start: float, count: int = 8) -> None:
    """Step as the loop would, half a second apart: past its batch pauses and first backoffs."""
    for index in range(count):
        target_loop.step(start + index * 0.5)


def test_a_failed_post_keeps_the_changes_until_alertmanager_takes_them(tmp_path: Path) -> None:
    target_loop, store, client = make_loop(tmp_path)
    now = time.time()
    store.apply([alert("h1", now), alert("h2", now)], now)
    client.down = True
    steps(target_loop, now)
    assert backlog(store) == 2, "the cursor moved past a batch Alertmanager never got"
    assert target_loop.failures >= 2 and target_loop.retry_at > now  # backing off and retrying
    client.down = False
    steps(target_loop, now + 10)
    assert {h for p in client.posts for h in hosts(p)} == {"h1", "h2"}
    assert backlog(store) == 0


def test_an_alert_alertmanager_rejected_is_not_resent_until_it_changes(tmp_path: Path) -> None:
    target_loop, store, client = make_loop(tmp_path)
    now = time.time()
    store.apply([alert("bad", now), alert("good", now)], now)
    client.rejected = {"bad"}
    steps(target_loop, now)  # the changes, then the first re-send sweep
    assert backlog(store) == 0  # a rejected alert does not block the target
    sent = [h for p in client.posts for h in hosts(p)]
    assert sent.count("bad") == 1, sent  # the sweep skipped it: sending it again would be rejected again
    assert sent.count("good") == 2  # as a change, and in the sweep
    client.posts.clear()
    recovered = Alert(labels={"alertname": "a", "host": "bad"}, annotations={}, state=AlarmState.RESOLVED,
                      starts_at=now, event_at=now + 10, ends_at=now + 10)
    store.apply([recovered], now + 10)  # changed: worth another try
    steps(target_loop, now + 10, count=2)
    assert [h for p in client.posts for h in hosts(p)] == ["bad"]


class DownStore(SqliteStore):
    """A store whose reads fail while ``down``."""

    down = False

    def changes(self, target: str, limit: int) -> list[StoredAlert]:
        if self.down:
            raise StoreError("redis: Connection refused")
        return super().changes(target, limit)


def test_a_store_outage_while_delivering_is_logged_as_such_and_delivery_resumes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = DownStore(tmp_path / "bridge.db")
    target_loop, _, client = make_loop(tmp_path, store)
    store.down = True
    first, recovered = "store error while delivering; will retry", "store reachable again"
    with caplog.at_level(logging.INFO, logger="bridge.deliver"):
        target_loop.start()
        try:
            wait_for(lambda: [r for r in caplog.records if r.getMessage() == first], timeout=5,
                     message="the store error logged")
            store.down = False
            store.apply([alert("after", time.time())], time.time())
            wait_for(lambda: any("after" in hosts(p) for p in client.posts), timeout=10,
                     message="delivery after the store came back")
        finally:
            target_loop.stop.set()
            target_loop.join(5)
    messages = [r.getMessage() for r in caplog.records]
    [record] = [r for r in caplog.records if r.getMessage() == first]  # once, not at every poll
    assert record.levelno == logging.ERROR and not record.exc_info  # an outage, not a bug
    assert record.__dict__["error"] == "redis: Connection refused"
    assert recovered in messages
    assert "unexpected error while delivering" not in messages
